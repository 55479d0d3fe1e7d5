"""Nextcloud role (hosts whose inventory has a `nextcloud` section): nginx and PHP-FPM 8.2 from
Debian behind the edge, its database and role in the appliance's PostgreSQL (declared in
`postgres.roles`/`databases`: the postgres role makes them, the vault role keeps the password
in KV postgres/ROLE), Redis for file locking (redis-server@nextcloud, a unix socket only), the
data directory on tank/nextcloud, background jobs on a systemd timer (cron.php), its
configuration as code (sovereign.config.php, merged over Nextcloud's own config.php in
NEXTCLOUD_CONFIG_DIR), and the server itself from the artifact cache: the release tarball the
operator dropped there, checked against the inventory's sha256 at preflight and on the host.

The edge (roles/edge) answers HTTPS for `nextcloud.server_names` and proxies to this role's
vhost on 127.0.0.1:`nextcloud.port`. Without `nextcloud.server` that vhost answers 503 "not
installed" and only PHP-FPM's probe (loopback) runs PHP.

Stages: install (Debian packages; the server's tarball, verified, unpacked, linked) →
configure (directories, PHP-FPM pool, Redis instance, nginx vhost, Nextcloud's configuration,
the cron units) → activate (check nginx, restart what changed, run and enable the services and
the timer).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from controller.pki import TLS_SUBDIR
from roles.common import ops as common
from roles.nextcloud import plan
from roles.nextcloud.secret import db_password
from roles.nextcloud.settings import NextcloudSettings
from roles.pki.settings import controller_dir as pki_dir
from roles.vault.keys import DEPLOY_CREDENTIALS
from roles.vault.settings import controller_dir as vault_dir

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
TARBALL_CACHE = "/var/cache/sovereign/nextcloud"
SYSTEMD = "/etc/systemd/system"


@deploy("Nextcloud (PHP-FPM, Redis, nginx vhost behind the edge)")
def nextcloud(spec: HostSpec) -> None:
    nc = spec.nextcloud
    assert nc is not None  # deploy/site.py runs the role only where the inventory asks
    install(spec, nc)
    activate(configure(spec, nc))


def install(spec: HostSpec, nc: NextcloudSettings) -> None:
    common.packages(name="Install PHP-FPM 8.2, its extensions and Redis",
                    packages=plan.PACKAGES, update=True)  # fmt: skip
    if nc.server is None:
        return
    tarball = f"{TARBALL_CACHE}/{nc.server.file}"
    release = plan.release_dir(nc)
    common.artifact(
        name=f"Upload {nc.server.file} (sha256 from the inventory, checked on the host)",
        src=str(spec.artifacts_dir / nc.server.file),
        dest=tarball,
        sha256=nc.server.sha256,
        mode="644",
    )
    server.shell(
        name=f"Unpack Nextcloud {nc.server.version} into {release}",
        commands=[
            f"test -d {release} || (rm -rf {release}.partial && mkdir -p {release}.partial && "
            f"tar -xjf {tarball} -C {release}.partial --strip-components=1 --no-same-owner && "
            f"chown -R root:{plan.WEB_USER} {release}.partial && "
            f"chown -R {plan.WEB_USER}:{plan.WEB_USER} {release}.partial/apps && "
            f"mv {release}.partial {release})"
        ],
    )
    files.link(name=f"Link {nc.install_dir} to Nextcloud {nc.server.version}",
               path=nc.install_dir, target=release)  # fmt: skip


@dataclass(frozen=True)
class Configured:
    fpm: list[OperationMeta]  # the pool: restart php8.2-fpm
    redis: list[OperationMeta]  # its instance's config: restart it
    site: list[OperationMeta]  # nginx vhost: check and reload
    cron: list[OperationMeta]  # units: daemon-reload


def configure(spec: HostSpec, nc: NextcloudSettings) -> Configured:
    web = plan.WEB_USER
    common.directory(name="Nextcloud's configuration directory (Nextcloud writes config.php)",
                     path=str(Path(plan.CONFIG_DIR).parent), user="root", group=web,
                     mode="750")  # fmt: skip
    common.directory(name=f"{plan.CONFIG_DIR}", path=plan.CONFIG_DIR, user=web, group=web,
                     mode="750")  # fmt: skip
    common.directory(name=f"Nextcloud's data directory {nc.data_dir} (on tank/nextcloud)",
                     path=nc.data_dir, user=web, group=web, mode="750")  # fmt: skip
    config = common.template(name="Nextcloud's configuration as code (sovereign.config.php)",
                             src=str(HERE / "sovereign.config.php.j2"), dest=plan.SOVEREIGN_CONFIG,
                             user="root", group=web, mode="640",
                             **plan.config_args(spec))  # fmt: skip
    probe = common.put(name="PHP-FPM's probe page", src=str(HERE / plan.PROBE),
                       dest=f"{plan.PLACEHOLDER_DIR}/{plan.PROBE}", mode="644",
                       create_remote_dir=True)  # fmt: skip
    pool = common.template(name="PHP-FPM pool for Nextcloud",
                           src=str(HERE / "php-fpm-pool.conf.j2"), dest=plan.FPM_POOL,
                           **plan.fpm_args(nc))  # fmt: skip
    redis_conf = common.template(name="Redis instance for Nextcloud (unix socket only)",
                                 src=str(HERE / "redis.conf.j2"), dest=plan.REDIS_CONF,
                                 user="redis", group="redis", mode="640",
                                 **plan.redis_args(nc))  # fmt: skip
    password = db_password(name="The database password into db.config.php (from Vault)",
                           dest=plan.DB_CONFIG, group=web, role=nc.db_user,
                           vault=_vault(spec))  # fmt: skip
    member = server.user(name=f"{web} may use Redis's socket (group redis)", user=web,
                         groups=["redis"], append=True, ensure_home=False)  # fmt: skip
    site = common.template(name="nginx vhost for Nextcloud (loopback, behind the edge)",
                           src=str(HERE / "sovereign-nextcloud.conf.j2"), dest=plan.NGINX_SITE,
                           **plan.nginx_args(nc))  # fmt: skip
    units = {}
    for unit in (plan.CRON_SERVICE, plan.CRON_TIMER):
        units[unit] = common.template(name=f"Install {unit}", src=str(HERE / f"{unit}.j2"),
                                      dest=f"{SYSTEMD}/{unit}", **plan.cron_args(nc))  # fmt: skip
    return Configured(fpm=[pool, config, probe, member, password], redis=[redis_conf], site=[site],
                      cron=list(units.values()))  # fmt: skip


def _vault(spec: HostSpec) -> dict[str, object] | None:
    """Where the deploy reads the database password: the host's Vault, as the vault role
    configured it (None: no Vault, the postgres role's file on the host)."""
    cfg = spec.vault
    if cfg is None:
        return None
    ca_cert = pki_dir(spec) / TLS_SUBDIR / "ca.crt"
    credentials = vault_dir(cfg, spec.name) / DEPLOY_CREDENTIALS
    return {"port": cfg.port, "kv": cfg.kv_mount, "ca_cert": str(ca_cert),
            "credentials": str(credentials)}  # fmt: skip


def activate(configured: Configured) -> None:
    systemd.service(name="Debian's default Redis off (Nextcloud has its own instance)",
                    service="redis-server.service", running=False, enabled=False)  # fmt: skip
    systemd.daemon_reload(name="Reload systemd units", _if=any_changed(*configured.cron))
    common.service(name=f"Run {plan.REDIS_UNIT}", unit=plan.REDIS_UNIT)
    systemd.service(name=f"Restart {plan.REDIS_UNIT} for its new configuration",
                    service=plan.REDIS_UNIT, restarted=True,
                    _if=any_changed(*configured.redis))  # fmt: skip
    common.service(name=f"Run {plan.FPM_UNIT}", unit=plan.FPM_UNIT)
    systemd.service(name=f"Restart {plan.FPM_UNIT} for its pool or group",
                    service=plan.FPM_UNIT, restarted=True,
                    _if=any_changed(*configured.fpm))  # fmt: skip
    server.shell(name="Check the nginx configuration (nginx -t)", commands=["nginx -t -q"],
                 _if=any_changed(*configured.site))  # fmt: skip
    systemd.service(name="Reload nginx for the Nextcloud vhost", service="nginx.service",
                    reloaded=True, _if=any_changed(*configured.site))  # fmt: skip
    common.service(name=f"Run {plan.CRON_TIMER}", unit=plan.CRON_TIMER)
