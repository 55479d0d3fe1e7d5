"""Agent role: the appliance agent from a wheelhouse built on the controller (no index needed
on the host), its config rendered from the inventory, and a hardened systemd unit."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from appliance.config import validate_config
from controller.artifacts import WHEELHOUSE
from roles.agent import ops
from roles.agent.settings import AgentRoleSettings, render_config, resolve_listen_address
from roles.artifacts import artifact_entry, artifact_path
from roles.broker.settings import BrokerSettings
from roles.broker.settings import resolve_listen_address as resolve_broker_address
from roles.postgres.settings import MONITOR_ROLE, PostgresSettings
from roles.settings import RoleSettingsError, format_validation_error, parse_settings
from roles.vault.desired import PG_MONITOR_SECRET
from roles.vault.layout import AGENT_ROLE_ID, AGENT_SECRET_ID, CA_CERT
from roles.vault.settings import VaultSettings

HERE = Path(__file__).parent
WHEELHOUSE_DIR = "/opt/sovereign/wheelhouse"
UNIT = "sovereign-agent.service"


def settings() -> AgentRoleSettings:
    return parse_settings(AgentRoleSettings, "agent", host.data.get("agent"), host.name)


def service_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """What the agent watches on an appliance host: PostgreSQL over its local socket (peer
    auth as the agent's user, which the postgres role grants pg_monitor) and the broker."""
    pg = PostgresSettings.model_validate(data.get("postgres") or {})
    defaults: dict[str, Any] = {
        "postgres_health_dsn": (
            f"host=/var/run/postgresql port={pg.port} dbname=postgres user={MONITOR_ROLE}"
        ),
    }
    if data.get("vault") is not None:
        defaults.update(vault_defaults(VaultSettings.model_validate(data["vault"]), pg))
    broker = BrokerSettings.model_validate(data.get("broker") or {})
    try:
        address = resolve_broker_address(broker, data.get("ssh_hostname"))
    except ValueError:
        return defaults  # no IP to reach the broker by: the inventory must set agent.config
    defaults["events"] = {
        "bootstrap_servers": f"{address}:{broker.port}",
        "outbox_path": "/var/lib/sovereign/events.db",
    }
    return defaults


def vault_defaults(vault: VaultSettings, pg: PostgresSettings) -> dict[str, Any]:
    """With Vault on the host the agent takes its secrets from it (AppRole from the files the
    vault role delivers) and logs in to PostgreSQL over loopback with the password kept there."""
    return {
        "postgres_health_dsn": (
            f"host=127.0.0.1 port={pg.port} dbname=postgres user={MONITOR_ROLE}"
        ),
        "postgres_password_secret": PG_MONITOR_SECRET,
        "secrets": {
            "backend": "vault",
            "vault": {
                "address": f"https://127.0.0.1:{vault.port}",
                "ca_cert": CA_CERT,
                "role_id_file": AGENT_ROLE_ID,
                "secret_id_file": AGENT_SECRET_ID,
                "kv_mount": vault.kv_mount,
                "transit_mount": vault.transit_mount,
            },
        },
    }


def config_text(cfg: AgentRoleSettings, data: dict[str, Any], host_name: str) -> str:
    """agent.toml, validated by the agent's own settings model before it is rendered."""
    config = render_config(
        cfg, resolve_listen_address(cfg, data.get("ssh_hostname")), service_defaults(data)
    )
    try:
        validate_config(config)
    except ValidationError as exc:
        raise RoleSettingsError(
            f"host {host_name}: invalid `agent.config`:\n{format_validation_error('agent', exc)}"
        ) from None
    return "# Managed by Sovereign Appliance (roles/agent).\n" + tomli_w.dumps(config)


@deploy("Appliance agent")
def agent() -> None:
    cfg = settings()
    data = {key: host.data.get(key) for key in ("ssh_hostname", "postgres", "broker", "vault")}
    config = config_text(cfg, data, host.name)
    wheelhouse = artifact_path(WHEELHOUSE)
    entry = artifact_entry(WHEELHOUSE)
    wheels = sorted(str(name) for name in dict(entry["files"]))  # type: ignore[call-overload]

    apt.packages(name="Install python3-venv", packages=["python3-venv"], no_recommends=True)
    synced = files.sync(
        name="Upload the agent wheelhouse",
        src=wheelhouse,
        dest=WHEELHOUSE_DIR,
        delete=True,
        mode="644",
        dir_mode="755",
    )
    installed = ops.install_agent(
        name="Install the agent from the wheelhouse",
        wheelhouse=WHEELHOUSE_DIR,
        digest=str(entry["sha256"]),
        wheels=wheels,
    )
    conf = files.put(
        name="Render /etc/sovereign/agent.toml",
        src=StringIO(config),
        dest="/etc/sovereign/agent.toml",
        user="root",
        group="sovereign",
        mode="640",
    )
    unit = files.template(
        name=f"Install {UNIT}",
        src=str(HERE / "sovereign-agent.service.j2"),
        dest=f"/etc/systemd/system/{UNIT}",
        port=cfg.port,
    )
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    start = systemd.service(name=f"Run {UNIT}", service=UNIT, running=True, enabled=True)
    changed = any_changed(synced, installed, conf, unit)
    systemd.service(
        name=f"Restart {UNIT} for its new code or config",
        service=UNIT,
        restarted=True,
        _if=lambda: changed() and not start.did_change(),
    )
