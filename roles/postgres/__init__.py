"""PostgreSQL role: Debian's PostgreSQL with its cluster on the tank/postgres dataset, listen
addresses and pg_hba from the inventory, declared roles (generated passwords, root-only on the
host) and databases, memory settings sized from the host. With Vault on the host, also the
agent's own database (its history and state) and the role it logs in as.

Stages: install (package) → configure (cluster, settings, pg_hba.conf) → activate (run it,
restart or reload only for what configure changed, then roles and databases)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from roles.common import ops as common
from roles.pgbackrest.plan import archive_settings, write_paths
from roles.pki import CA_CERT, TLS_DIR, certificate
from roles.postgres import ops
from roles.postgres.facts import MemTotalMb
from roles.postgres.settings import (
    PostgresSettings,
    declared_databases,
    declared_roles,
    memory_settings,
    resolve_listen,
    resolve_networks,
)

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
SSL_CERT = f"{TLS_DIR}/postgres.crt"
SSL_KEY = f"{TLS_DIR}/postgres.key"


def unit_name(cfg: PostgresSettings) -> str:
    return f"postgresql@{cfg.version}-{cfg.cluster}.service"


@deploy("PostgreSQL")
def postgres(spec: HostSpec) -> None:
    install(spec)
    activate(spec, configure(spec))


def install(spec: HostSpec) -> None:
    common.put(
        name="Keep the package from creating a cluster of its own",
        src=str(HERE / "createcluster.conf"),
        dest="/etc/postgresql-common/createcluster.conf",
    )
    common.packages(
        name=f"Install PostgreSQL {spec.postgres.version}",
        packages=[f"postgresql-{spec.postgres.version}"],
    )


@dataclass(frozen=True)
class Configured:
    """What configure changed, so activate restarts or reloads only when it must."""

    settings: Callable[[], bool]  # postgresql.conf include, conf.d file, unit drop-in: restart
    unit: Callable[[], bool]  # the hardening drop-in: reload systemd first
    hba: Callable[[], bool]  # pg_hba.conf, the TLS certificate and key: reload


def configure(spec: HostSpec) -> Configured:
    """The cluster on the postgres dataset, its TLS certificate, settings and pg_hba.conf."""
    cfg = spec.postgres
    listen = resolve_listen(cfg, spec.ssh_hostname)
    tls = certificate(spec, "postgres", [a for a in listen if a != "localhost"])
    cert = common.put(name="Install the PostgreSQL certificate", src=str(tls.server_cert),
                      dest=SSL_CERT, mode="644")  # fmt: skip
    key = common.put(name="Install the PostgreSQL key", src=str(tls.server_key), dest=SSL_KEY,
                     user="postgres", group="postgres", mode="600")  # fmt: skip
    etc = f"/etc/postgresql/{cfg.version}/{cfg.cluster}"
    common.directory(
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
    conf = common.template(
        name="Configure listen addresses and memory",
        src=str(HERE / "postgresql.conf.j2"),
        dest=f"{etc}/conf.d/50-sovereign.conf",
        user="postgres",
        group="postgres",
        mode="644",
        listen=listen,
        port=cfg.port,
        ssl_cert=SSL_CERT,
        ssl_key=SSL_KEY,
        ssl_ca=CA_CERT,
        max_connections=cfg.max_connections,
        memory=memory_settings(host.get_fact(MemTotalMb), cfg.max_connections),
        archive=archive_settings(spec.pgbackrest),
    )
    hba = common.template(
        name="Allow local and declared networks (TLS only) (pg_hba.conf)",
        src=str(HERE / "pg_hba.conf.j2"),
        dest=f"{etc}/pg_hba.conf",
        user="postgres",
        group="postgres",
        mode="640",
        networks=resolve_networks(cfg, spec.appliance_subnet),
    )
    unit = common.template(
        name="Harden the PostgreSQL unit (drop-in)",
        src=str(HERE / "hardening.conf.j2"),
        dest=f"/etc/systemd/system/{unit_name(cfg)}.d/50-sovereign-hardening.conf",
        data_dir=cfg.data_dir,
        extra_write_paths=write_paths(spec.pgbackrest),
    )
    return Configured(
        settings=any_changed(include, conf, unit),
        unit=unit.did_change,
        hba=any_changed(hba, cert, key),
    )


def activate(spec: HostSpec, configured: Configured) -> None:
    """Run the cluster (restart for new settings, reload for a new pg_hba.conf), then its
    declared roles and databases, which need it running."""
    cfg = spec.postgres
    unit = unit_name(cfg)
    systemd.daemon_reload(name="Reload systemd units", _if=configured.unit)
    start = common.service(name=f"Run {unit}", unit=unit)
    systemd.service(
        name="Restart PostgreSQL for its new settings",
        service=unit,
        restarted=True,
        _if=lambda: configured.settings() and not start.did_change(),
    )
    systemd.service(
        name="Reload PostgreSQL for its new pg_hba.conf",
        service=unit,
        reloaded=True,
        _if=lambda: configured.hba() and not (configured.settings() or start.did_change()),
    )
    ops.roles(
        name="Roles (passwords generated on the host)",
        roles=[r.model_dump() for r in declared_roles(spec)],
        port=cfg.port,
    )
    ops.databases(
        name="Databases",
        databases=[d.model_dump() for d in declared_databases(spec)],
        port=cfg.port,
    )
