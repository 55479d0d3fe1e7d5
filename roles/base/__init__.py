"""Base role: identity, time zone, essential packages, the `sovereign` user, persistent journal.

Stages: install (packages) → configure (identity, user, directories, journald) → activate
(journald restarts only when its drop-in changed)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import systemd

from roles.base import ops
from roles.base.settings import ESSENTIAL_PACKAGES
from roles.common import ops as common

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
CONFIG_DIR = "/etc/sovereign"
SERVICE_USER = "sovereign"


@deploy("Base system")
def base(spec: HostSpec) -> None:
    install(spec)
    activate(configure(spec))


def install(spec: HostSpec) -> None:
    common.packages(
        name="Install essential packages",
        packages=[*ESSENTIAL_PACKAGES, *spec.base.extra_packages],
        update=True,
        cache_time=24 * 3600,
    )


def configure(spec: HostSpec) -> OperationMeta:
    """Identity, time zone, the service user and its directories, the journal's settings;
    returns the journald drop-in's op (journald restarts when it changed)."""
    cfg = spec.base
    ops.hostname(name="Set the host name", hostname=cfg.hostname or spec.name)
    ops.timezone(name=f"Set the time zone to {cfg.timezone}", timezone=cfg.timezone)

    common.system_user(
        name="Create the sovereign system user and group",
        user=SERVICE_USER,
        group=SERVICE_USER,
        home="/var/lib/sovereign",
        shell="/usr/sbin/nologin",
    )
    common.directory(
        name="Create /var/lib/sovereign",
        path="/var/lib/sovereign",
        user=SERVICE_USER,
        group=SERVICE_USER,
        mode="750",
    )
    common.directory(
        name=f"Create {CONFIG_DIR}",
        path=CONFIG_DIR,
        user="root",
        group=SERVICE_USER,
        # Others may pass through (not list) to a service's own subdirectory, e.g. vault/;
        # every file here guards itself (agent.toml 640, secrets/ 700).
        mode="751",
    )

    common.directory(
        name="Create /var/log/journal",
        path="/var/log/journal",
        user="root",
        group="systemd-journal",
        mode="2755",
    )
    return common.template(
        name="Make the journal persistent",
        src=str(HERE / "journald.conf.j2"),
        dest="/etc/systemd/journald.conf.d/50-sovereign.conf",
        max_use=cfg.journal_max_use,
    )


def activate(journald: OperationMeta) -> None:
    systemd.service(
        name="Restart journald when its config changed",
        service="systemd-journald.service",
        restarted=True,
        _if=journald.did_change,
    )
