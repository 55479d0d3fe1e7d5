"""PostgreSQL role: Debian's PostgreSQL with its cluster on the tank/postgres dataset, listen
addresses and pg_hba from the inventory, declared roles (generated passwords, root-only on the
host) and databases, memory settings sized from the host."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, systemd

from roles.postgres import ops
from roles.postgres.facts import MemTotalMb
from roles.postgres.settings import (
    PostgresSettings,
    memory_settings,
    resolve_listen,
    resolve_networks,
)

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent


def unit_name(cfg: PostgresSettings) -> str:
    return f"postgresql@{cfg.version}-{cfg.cluster}.service"


@deploy("PostgreSQL")
def postgres(spec: HostSpec) -> None:
    cfg = spec.postgres
    etc = f"/etc/postgresql/{cfg.version}/{cfg.cluster}"

    files.put(
        name="Keep the package from creating a cluster of its own",
        src=str(HERE / "createcluster.conf"),
        dest="/etc/postgresql-common/createcluster.conf",
        create_remote_dir=True,
    )
    apt.packages(
        name=f"Install PostgreSQL {cfg.version}",
        packages=[f"postgresql-{cfg.version}"],
        no_recommends=True,
    )
    files.directory(
        name=f"Give {cfg.data_dir} (the postgres dataset) to postgres",
        path=cfg.data_dir, user="postgres", group="postgres", mode="700",
    )  # fmt: skip
    ops.cluster(
        name=f"Create cluster {cfg.version}/{cfg.cluster} on {cfg.cluster_dir}",
        version=cfg.version, cluster=cfg.cluster, data_dir=cfg.cluster_dir, port=cfg.port,
    )  # fmt: skip
    include = files.line(
        name="Read conf.d (our settings live there)",
        path=f"{etc}/postgresql.conf",
        line="include_dir = 'conf.d'",
        replace="include_dir = 'conf.d'",
    )
    conf = files.template(
        name="Configure listen addresses and memory",
        src=str(HERE / "postgresql.conf.j2"),
        dest=f"{etc}/conf.d/50-sovereign.conf",
        user="postgres",
        group="postgres",
        mode="644",
        listen=resolve_listen(cfg, spec.ssh_hostname),
        port=cfg.port,
        max_connections=cfg.max_connections,
        memory=memory_settings(host.get_fact(MemTotalMb), cfg.max_connections),
    )
    hba = files.template(
        name="Allow local and declared networks only (pg_hba.conf)",
        src=str(HERE / "pg_hba.conf.j2"),
        dest=f"{etc}/pg_hba.conf",
        user="postgres",
        group="postgres",
        mode="640",
        networks=resolve_networks(cfg, spec.appliance_subnet),
    )
    start = systemd.service(
        name=f"Run {unit_name(cfg)}", service=unit_name(cfg), running=True, enabled=True
    )
    systemd.service(
        name="Restart PostgreSQL for its new settings",
        service=unit_name(cfg),
        restarted=True,
        _if=lambda: (conf.did_change() or include.did_change()) and not start.did_change(),
    )
    systemd.service(
        name="Reload PostgreSQL for its new pg_hba.conf",
        service=unit_name(cfg),
        reloaded=True,
        _if=lambda: (
            hba.did_change()
            and not (conf.did_change() or include.did_change() or start.did_change())
        ),
    )
    ops.roles(
        name="Roles (passwords generated on the host)",
        roles=[r.model_dump() for r in cfg.roles],
        port=cfg.port,
    )
    ops.databases(
        name="Databases",
        databases=[d.model_dump() for d in cfg.databases],
        port=cfg.port,
    )
