"""Snapshots role: the appliance's own snapshot policy engine (appliance/backup) on a
systemd timer, so snapshots are taken and pruned on zfs-fuse (lab) and OpenZFS alike.

Host spec: `snapshots` (roles/snapshots/settings.py): a policy per dataset in sanoid's
vocabulary, a default for every dataset of `storage.datasets`.

Stages: install (nothing of its own: the runner is the agent's code, in the venv the agent
role installs, so it runs after that role) → configure (snapshots.toml, the service and
timer units) → activate (reload units when they changed; the timer enabled and waiting, or
stopped and disabled with `snapshots.enabled: false`).
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from roles.common import ops as common
from roles.snapshots.plan import CONFIG_FILE, config_text

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
SERVICE = "sovereign-snapshots.service"
TIMER = "sovereign-snapshots.timer"
AGENT_PYTHON = "/opt/sovereign/agent/bin/python"


@deploy("ZFS snapshots (policy on a timer)")
def snapshots(spec: HostSpec) -> None:
    activate(spec, configure(spec))


def configure(spec: HostSpec) -> list[OperationMeta]:
    """The policy file (the runner validates it with the same model) and the two units."""
    conf = common.put(
        name=f"Render {CONFIG_FILE}",
        src=StringIO(config_text(spec.snapshots)),
        dest=CONFIG_FILE,
    )
    service = common.template(
        name=f"Install {SERVICE}",
        src=str(HERE / "sovereign-snapshots.service.j2"),
        dest=f"/etc/systemd/system/{SERVICE}",
        python=AGENT_PYTHON,
        config=CONFIG_FILE,
    )
    timer = common.put(
        name=f"Install {TIMER}",
        src=str(HERE / "sovereign-snapshots.timer"),
        dest=f"/etc/systemd/system/{TIMER}",
    )
    return [conf, service, timer]


def activate(spec: HostSpec, configured: list[OperationMeta]) -> None:
    """The timer waiting for its next quarter hour; the policy file is read at each run, so
    a new one needs no restart."""
    _, service, timer = configured
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(service, timer))
    if spec.snapshots.enabled:
        common.service(name=f"Run {TIMER}", unit=TIMER)
    else:
        systemd.service(
            name=f"Stop {TIMER} (snapshots.enabled is false)",
            service=TIMER,
            running=False,
            enabled=False,
        )
