"""Checks of each host's inventory data that need no connection: run before pyinfra starts.

`sovereign deploy` calls `preflight_host` for every host, so invalid settings and a missing
or tampered artifact stop the deploy before any host is touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.artifacts import WHEELHOUSE
from roles.spec import HostSpec, parse_host_spec
from roles.vault import transit_token


def preflight_host(host_name: str, data: Mapping[str, Any]) -> tuple[HostSpec, set[str]]:
    """The host's validated spec and the artifacts it needs.

    Raises one RoleSettingsError listing every bad field of the host, not just the first.
    """
    spec = parse_host_spec(host_name, data)
    if spec.vault is not None and spec.vault.seal == "transit":
        transit_token(spec.vault, host_name)  # set on the controller, or one clear error
    return spec, required_artifacts(spec)


def required_artifacts(spec: HostSpec) -> set[str]:
    """Artifacts the host needs."""
    needed: set[str] = {WHEELHOUSE}  # every host runs the agent
    if spec.broker.flavour == "tansu":
        needed.add("tansu")
    elif spec.broker.redpanda_source == "artifact":
        needed.add("redpanda.deb")
    if spec.vault is not None:
        if spec.vault.flavour == "openbao":
            needed.add("bao")
        elif spec.vault.hashicorp_source == "artifact":
            needed.add("vault")
    return needed
