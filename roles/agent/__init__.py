"""Agent role: the appliance agent from a wheelhouse built on the controller (no index needed
on the host), its config rendered from the inventory, and a hardened systemd unit."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import tomli_w
from pydantic import ValidationError
from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd
from pyinfra.operations.util import any_changed

from appliance.config import validate_config
from roles.agent import ops
from roles.agent.settings import AgentRoleSettings, render_config, resolve_listen_address
from roles.artifacts import artifact_entry, artifact_path
from roles.settings import RoleSettingsError, format_validation_error, parse_settings
from sovereign.artifacts import WHEELHOUSE

HERE = Path(__file__).parent
WHEELHOUSE_DIR = "/opt/sovereign/wheelhouse"
UNIT = "sovereign-agent.service"


def settings() -> AgentRoleSettings:
    return parse_settings(AgentRoleSettings, "agent", host.data.get("agent"), host.name)


def config_text(cfg: AgentRoleSettings, ssh_hostname: str | None, host_name: str) -> str:
    """agent.toml, validated by the agent's own settings model before it is rendered."""
    config = render_config(cfg, resolve_listen_address(cfg, ssh_hostname))
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
    config = config_text(cfg, host.data.get("ssh_hostname"), host.name)
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
