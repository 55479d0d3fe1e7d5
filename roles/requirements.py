"""Checks of each host's inventory data that need no connection: run before pyinfra starts.

`sovereign deploy` calls `preflight_host` for every host, so invalid settings and a missing
or tampered artifact stop the deploy before any host is touched.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.artifacts import WHEELHOUSE
from roles.agent.settings import AgentRoleSettings
from roles.base.settings import BaseSettings
from roles.broker.settings import BrokerSettings
from roles.postgres.settings import PostgresSettings
from roles.settings import RoleSettingsError, parse_settings
from roles.vault import transit_token
from roles.vault.settings import VaultSettings
from roles.zfs import resolve_settings
from roles.zfs.backends import parse_backend


def preflight_host(host_name: str, data: dict[str, Any]) -> set[str]:
    """Validate every role's settings; return the artifacts the host needs.

    Raises one RoleSettingsError listing every bad field of the host, not just the first.
    """
    problems: list[str] = []

    def check(validate: Callable[[], object]) -> None:
        try:
            validate()
        except (RoleSettingsError, ValueError) as exc:
            problems.append(str(exc))

    check(lambda: parse_settings(BaseSettings, "base", data.get("base"), host_name))
    check(lambda: _storage(host_name, data))
    check(lambda: parse_settings(AgentRoleSettings, "agent", data.get("agent"), host_name))
    check(lambda: parse_settings(PostgresSettings, "postgres", data.get("postgres"), host_name))
    check(lambda: parse_settings(BrokerSettings, "broker", data.get("broker"), host_name))
    check(lambda: _vault(host_name, data))
    if problems:
        raise RoleSettingsError("\n".join(problems))
    return required_artifacts(host_name, data)


def _vault(host_name: str, data: dict[str, Any]) -> None:
    if data.get("vault") is None:
        return
    cfg = parse_settings(VaultSettings, "vault", data.get("vault"), host_name)
    if cfg.seal == "transit":
        transit_token(cfg, host_name)


def _storage(host_name: str, data: dict[str, Any]) -> None:
    backend = parse_backend(data.get("zfs_backend"), host_name)
    resolve_settings(data.get("storage"), data.get("lab_disks"), backend, host_name)


def required_artifacts(host_name: str, data: dict[str, Any]) -> set[str]:
    """Artifacts the host needs; raises RoleSettingsError naming a bad field."""
    needed: set[str] = {WHEELHOUSE}  # every host runs the agent
    broker = parse_settings(BrokerSettings, "broker", data.get("broker"), host_name)
    if broker.flavour == "tansu":
        needed.add("tansu")
    elif broker.redpanda_source == "artifact":
        needed.add("redpanda.deb")
    if data.get("vault") is not None:
        vault = parse_settings(VaultSettings, "vault", data.get("vault"), host_name)
        if vault.flavour == "openbao":
            needed.add("bao")
        elif vault.hashicorp_source == "artifact":
            needed.add("vault")
    return needed
