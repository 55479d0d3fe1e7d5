"""Agent role: the appliance agent from a wheelhouse built on the controller (no index needed
on the host), its config rendered from the inventory, and a hardened systemd unit.

Stages: install (wheelhouse, venv) → configure (unit, agent.toml) → activate (run it, restart
only when its code or configuration changed, then make its first admin token once)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from controller.artifacts import WHEELHOUSE
from roles.agent import ops
from roles.agent.config import config_text
from roles.agent.handover import admin_token_file
from roles.artifacts import artifact_entry
from roles.common import ops as common
from roles.pki.settings import controller_dir

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
WHEELHOUSE_DIR = "/opt/sovereign/wheelhouse"
UNIT = "sovereign-agent.service"


@deploy("Appliance agent")
def agent(spec: HostSpec) -> None:
    installed = install(spec)
    activate(installed, configure(spec))
    if spec.sync is not None:
        ops.sync_identity(name="Make the appliance's sync identity in Vault (once)")
    hand_over_admin_token(spec)


def install(spec: HostSpec) -> list[OperationMeta]:
    """The agent's code: its wheelhouse on the host and a venv installed from it."""
    # The manifest's wheel list and checksums: the op compares them with the manifest it wrote
    # on the host and checks uploads there (no wheel is hashed on a no-op, on either side).
    entry = artifact_entry(spec, WHEELHOUSE)
    sums = {str(k): str(v) for k, v in dict(entry["files"]).items()}  # type: ignore[call-overload]
    common.packages(name="Install python3-venv", packages=["python3-venv"])
    synced = ops.wheelhouse(
        name="Upload the agent wheelhouse",
        src=str(spec.artifacts_dir / str(entry["file"])),
        dest=WHEELHOUSE_DIR,
        wheels=sums,
    )
    installed = ops.install_agent(
        name="Install the agent from the wheelhouse",
        wheelhouse=WHEELHOUSE_DIR,
        digest=str(entry["sha256"]),
        wheels=sorted(sums),
    )
    return [synced, installed]


def configure(spec: HostSpec) -> tuple[OperationMeta, OperationMeta]:
    """The hardened unit and agent.toml (validated by the agent's own model), in that order."""
    unit = common.template(
        name=f"Install {UNIT}",
        src=str(HERE / "sovereign-agent.service.j2"),
        dest=f"/etc/systemd/system/{UNIT}",
        port=spec.agent.port,
    )
    conf = common.put(
        name="Render /etc/sovereign/agent.toml",
        src=StringIO(config_text(spec)),
        dest="/etc/sovereign/agent.toml",
        user="root",
        group="sovereign",
        mode="640",
    )
    return unit, conf


def activate(
    installed: list[OperationMeta], configured: tuple[OperationMeta, OperationMeta]
) -> None:
    """Run the agent; restart it only when its code or configuration changed."""
    unit, _ = configured
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    start = common.service(name=f"Run {UNIT}", unit=UNIT)
    changed = any_changed(*installed, *configured)
    systemd.service(
        name=f"Restart {UNIT} for its new code or config",
        service=UNIT,
        restarted=True,
        _if=lambda: changed() and not start.did_change(),
    )


def hand_over_admin_token(spec: HostSpec) -> None:
    """The first admin token, made on the host once and saved for the operator beside the
    appliance CA (age-encrypted to vault.operator_age_recipients)."""
    directory = controller_dir(spec)
    address = spec.ssh_hostname or spec.name
    suffix = "" if spec.edge.port == 443 else f":{spec.edge.port}"
    ops.admin_token(
        name="Hand the agent's first admin token to the operator (once)",
        directory=str(directory),
        recipients=list(spec.vault.operator_age_recipients) if spec.vault else [],
        url=f"https://{address}{suffix}",
        ca_cert=str(directory / "tls" / "ca.crt"),
        handed_over=str(earlier) if (earlier := admin_token_file(directory)) else None,
    )
