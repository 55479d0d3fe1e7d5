"""Pure decisions of the Nextcloud role: paths, packages, what each template is rendered with,
and the checks of the host spec that need no connection."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from roles.nextcloud.settings import NextcloudSettings

if TYPE_CHECKING:
    from roles.spec import HostSpec

PHP = "8.2"
FPM_UNIT = f"php{PHP}-fpm.service"
FPM_POOL = f"/etc/php/{PHP}/fpm/pool.d/nextcloud.conf"
FPM_SOCKET = f"/run/php/php{PHP}-fpm-nextcloud.sock"
WEB_USER = "www-data"
# Nextcloud reads its configuration from NEXTCLOUD_CONFIG_DIR: outside the code, so a new
# release's directory takes over without copying it. config.php there is Nextcloud's own
# (instance id, secret, `installed`); sovereign.config.php, merged over it, is this role's.
CONFIG_DIR = "/etc/sovereign/nextcloud/config"
SOVEREIGN_CONFIG = f"{CONFIG_DIR}/sovereign.config.php"
DB_CONFIG = f"{CONFIG_DIR}/db.config.php"  # the database password, root:www-data 0640
# A static page served while no server is installed, and a probe of PHP-FPM (loopback only).
PLACEHOLDER_DIR = "/usr/share/sovereign/nextcloud"
PROBE = "sovereign-probe.php"
REDIS_INSTANCE = "nextcloud"
REDIS_UNIT = f"redis-server@{REDIS_INSTANCE}.service"
REDIS_CONF = f"/etc/redis/redis-{REDIS_INSTANCE}.conf"
REDIS_SOCKET = f"/run/redis-{REDIS_INSTANCE}/redis-server.sock"
NGINX_SITE = "/etc/nginx/conf.d/sovereign-nextcloud.conf"
CRON_SERVICE = "sovereign-nextcloud-cron.service"
CRON_TIMER = "sovereign-nextcloud-cron.timer"
RELEASES_DIR = "/var/www"

PACKAGES = [
    f"php{PHP}-fpm", f"php{PHP}-cli", f"php{PHP}-pgsql", f"php{PHP}-gd", f"php{PHP}-curl",
    f"php{PHP}-xml", f"php{PHP}-mbstring", f"php{PHP}-zip", f"php{PHP}-intl",
    f"php{PHP}-bcmath", f"php{PHP}-gmp", "php-apcu", "php-redis", "redis-server", "bzip2",
]  # fmt: skip


def check(spec: HostSpec) -> list[str]:
    """What the rest of the host's spec must give Nextcloud; one line per problem."""
    nc = spec.nextcloud
    if nc is None:
        return []
    problems = []
    roles = {r.name for r in spec.postgres.roles}
    if nc.db_user not in roles:
        problems.append(
            f"nextcloud.db_user: {nc.db_user!r} is not in postgres.roles (declare "
            f'{{"name": "{nc.db_user}"}} there: the postgres role makes it and its password)'
        )
    owners = {d.name: d.owner for d in spec.postgres.databases}
    if owners.get(nc.db_name) != nc.db_user:
        problems.append(
            f"nextcloud.db_name: declare {{'name': {nc.db_name!r}, 'owner': {nc.db_user!r}}} "
            "in postgres.databases"
        )
    mounts = [
        d.mountpoint or f"/{d.name}"
        for d in spec.storage.datasets
        if d.mountpoint not in ("legacy", "none")
    ]
    if not any(nc.data_dir.startswith(m.rstrip("/") + "/") for m in mounts):
        problems.append(f"nextcloud.data_dir: {nc.data_dir} is on none of storage.datasets")
    if nc.port in (spec.edge.port, spec.edge.http_port, spec.agent.port, spec.postgres.port):
        problems.append(f"nextcloud.port: {nc.port} is taken by another service of the host")
    return [f"host {spec.name}: {p}" for p in problems]


def edge_names(spec: HostSpec) -> list[str]:
    """The names the edge's certificate carries for Nextcloud."""
    return list(spec.nextcloud.server_names) if spec.nextcloud else []


def release_dir(nc: NextcloudSettings) -> str | None:
    return f"{RELEASES_DIR}/nextcloud-{nc.server.version}" if nc.server else None


def nginx_args(nc: NextcloudSettings) -> dict[str, Any]:
    return {
        "port": nc.port,
        "root": nc.install_dir if nc.server else PLACEHOLDER_DIR,
        "installed": nc.server is not None,
        "placeholder": PLACEHOLDER_DIR,
        "probe": PROBE,
        "socket": FPM_SOCKET,
        "max_body_gb": nc.max_upload_gb,
        "config_dir": CONFIG_DIR,
    }


def fpm_args(nc: NextcloudSettings) -> dict[str, Any]:
    return {
        "run_as": WEB_USER,
        "socket": FPM_SOCKET,
        "max_children": nc.fpm_max_children,
        "memory_limit_mb": nc.memory_limit_mb,
        "max_upload_gb": nc.max_upload_gb,
        "config_dir": CONFIG_DIR,
        "open_basedir": ":".join(open_basedir(nc)),
    }


def open_basedir(nc: NextcloudSettings) -> list[str]:
    """Where PHP may read and write: the code, its configuration, the data, temp files."""
    return [
        nc.install_dir, RELEASES_DIR, PLACEHOLDER_DIR, CONFIG_DIR, nc.data_dir, "/tmp",  # noqa: S108
        "/dev/urandom", "/proc/meminfo", f"/run/redis-{REDIS_INSTANCE}", "/var/lib/php/sessions",
    ]  # fmt: skip


def config_args(spec: HostSpec) -> dict[str, Any]:
    """sovereign.config.php: everything about the instance that is not Nextcloud's own state
    and not a secret (the database password is in a file of its own, db.config.php)."""
    nc = spec.nextcloud
    assert nc is not None
    port = "" if spec.edge.port == 443 else f":{spec.edge.port}"
    return {
        "trusted_domains": nc.server_names,
        "overwrite_url": f"https://{nc.canonical_name}{port}",
        "data_dir": nc.data_dir,
        "db_name": nc.db_name,
        "db_user": nc.db_user,
        # Loopback TCP with a password (pg_hba: the local socket is peer-only).
        "db_host": f"127.0.0.1:{spec.postgres.port}",
        "redis_socket": REDIS_SOCKET,
        "trusted_proxies": ["127.0.0.1", "::1"],
    }


def redis_args(nc: NextcloudSettings) -> dict[str, Any]:
    return {"socket": REDIS_SOCKET, "max_memory_mb": nc.redis_max_memory_mb}


def cron_args(nc: NextcloudSettings) -> dict[str, Any]:
    return {
        "run_as": WEB_USER,
        "install_dir": nc.install_dir,
        "config_dir": CONFIG_DIR,
        "minutes": nc.cron_minutes,
        "php": f"/usr/bin/php{PHP}",
    }
