"""The Nextcloud role from the host spec: its settings and the checks against the rest of the
spec, the templates it renders (vhost, PHP-FPM pool, Redis, config as code, cron units), the
edge's server block for its names, and the one-line preflight answer about its tarball."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.util import get_template

from controller.errors import SovereignError
from roles.edge import HERE as EDGE
from roles.edge.plan import render_args
from roles.nextcloud import HERE, plan
from roles.nextcloud.artifact import tarball_problem
from roles.settings import RoleSettingsError
from roles.spec import HostSpec, parse_host_spec
from sovereign.inventory import InventoryHost
from sovereign.preflight import preflight

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}
POSTGRES = {
    "roles": [{"name": "nextcloud"}],
    "databases": [{"name": "nextcloud", "owner": "nextcloud"}],
}
NAME = "cloud.example.org"


def spec(nextcloud: dict[str, Any] | None = None, **data: Any) -> HostSpec:
    section = {"server_names": [NAME], **(nextcloud or {})}
    base = {"ssh_hostname": "10.99.0.11", **DISKS, "postgres": POSTGRES, "nextcloud": section}
    return parse_host_spec("nas1", {**base, **data})


def render(template: str, args: dict[str, Any]) -> str:
    return str(get_template(str(Path(HERE) / template)).render(args))


def test_no_template_variable_is_taken_by_the_template_operation() -> None:
    """common.template's own arguments (owner, mode…) are not the template's variables."""
    nc = spec().nextcloud
    assert nc is not None
    own = {"src", "dest", "user", "group", "mode", "create_remote_dir"}
    for args in (plan.nginx_args(nc), plan.fpm_args(nc), plan.redis_args(nc),
                 plan.cron_args(nc), plan.config_args(spec())):  # fmt: skip
        assert not own & set(args)


def test_the_role_is_off_without_its_section() -> None:
    plain = parse_host_spec("nas1", {"ssh_hostname": "10.99.0.11", **DISKS})
    assert plain.nextcloud is None
    assert plan.check(plain) == []
    edge = render_args(plain, "/c", "/k")
    assert edge["nextcloud"] is None


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        ({"postgres": {}}, "nextcloud.db_user: 'nextcloud' is not in postgres.roles"),
        ({"postgres": {"roles": [{"name": "nextcloud"}]}}, "in postgres.databases"),
        ({"nextcloud": {"data_dir": "/srv/nc"}}, "/srv/nc is on none of storage.datasets"),
        ({"nextcloud": {"port": 8013}}, "nextcloud.port: 8013 is taken"),
        ({"nextcloud": {"server_names": []}}, "nextcloud.server_names"),
        (
            {"nextcloud": {"server": {"file": "nc.zip", "sha256": "0" * 64}}},
            "nextcloud.server.file",
        ),
    ],
)
def test_what_the_spec_must_give_nextcloud(data: dict[str, Any], complaint: str) -> None:
    nextcloud = data.pop("nextcloud", None)
    with pytest.raises(RoleSettingsError) as refused:
        spec(nextcloud, **data)
    assert complaint in str(refused.value)


def test_vhost_without_a_server_says_not_installed_and_probes_php() -> None:
    text = render("sovereign-nextcloud.conf.j2", plan.nginx_args(spec().nextcloud))  # type: ignore[arg-type]
    assert "listen 127.0.0.1:8081;" in text
    assert "server unix:/run/php/php8.2-fpm-nextcloud.sock;" in text
    assert "return 503" in text and "index.php" not in text
    assert "location = /sovereign-probe.php" in text and "allow 127.0.0.1;" in text


def test_vhost_with_a_server_has_nextclouds_rules() -> None:
    server = {"file": "nextcloud-30.0.2.tar.bz2", "sha256": "a" * 64}
    nc = spec({"server": server}).nextcloud
    assert nc is not None and plan.release_dir(nc) == "/var/www/nextcloud-30.0.2"
    text = render("sovereign-nextcloud.conf.j2", plan.nginx_args(nc))
    assert "root /var/www/nextcloud;" in text
    assert "return 503" not in text
    assert "location = /.well-known/caldav { return 301 /remote.php/dav/; }" in text
    assert "fastcgi_request_buffering off;" in text and "client_max_body_size 16G;" in text


def test_config_as_code_holds_no_secret() -> None:
    text = render("sovereign.config.php.j2", plan.config_args(spec()))
    assert "'dbhost' => '127.0.0.1:5432'" in text
    assert "'trusted_domains' => array (\n    0 => 'cloud.example.org'," in text
    assert "'memcache.locking' => '\\\\OC\\\\Memcache\\\\Redis'" in text
    assert "'host' => '/run/redis-nextcloud/redis-server.sock'" in text
    assert "'datadirectory' => '/tank/nextcloud/data'" in text
    assert not re.search(r"dbpassword|passwordsalt|'secret'", text)


def test_fpm_pool_redis_and_cron() -> None:
    nc = spec({"max_upload_gb": 4, "cron_minutes": 10}).nextcloud
    assert nc is not None
    pool = render("php-fpm-pool.conf.j2", plan.fpm_args(nc))
    assert "env[NEXTCLOUD_CONFIG_DIR] = /etc/sovereign/nextcloud/config/" in pool
    assert "php_admin_value[upload_max_filesize] = 4G" in pool
    assert "/tank/nextcloud/data" in pool.split("open_basedir] = ")[1].splitlines()[0]
    redis = render("redis.conf.j2", plan.redis_args(nc))
    assert "port 0\n" in redis and "unixsocketperm 770" in redis
    service = render(f"{plan.CRON_SERVICE}.j2", plan.cron_args(nc))
    assert "ConditionPathExists=/var/www/nextcloud/cron.php" in service
    assert "User=www-data" in service
    assert "ExecStart=/usr/bin/php8.2 -f /var/www/nextcloud/cron.php" in service
    timer = render(f"{plan.CRON_TIMER}.j2", plan.cron_args(nc))
    assert "OnUnitActiveSec=10min" in timer


def test_the_edge_answers_nextclouds_names() -> None:
    args = render_args(spec(), "/etc/sovereign/tls/edge.crt", "/etc/sovereign/tls/edge.key")
    text = str(get_template(str(Path(EDGE) / "sovereign-edge.conf.j2")).render(args))
    block = text.split("# Nextcloud (roles/nextcloud)")[1]
    assert f"server_name {NAME};" in block
    assert "proxy_pass http://127.0.0.1:8081;" in block
    assert "proxy_request_buffering off;" in block
    assert "location = /sovereign-probe.php {\n        return 404;" in block
    assert plan.edge_names(spec()) == [NAME]


def test_preflight_says_in_one_line_that_the_tarball_is_missing(tmp_path: Path) -> None:
    server = {"file": "nextcloud-30.0.2.tar.bz2", "sha256": "b" * 64}
    host = InventoryHost(
        "nas1",
        (),
        {"ssh_hostname": "10.99.0.11", **DISKS, "postgres": POSTGRES,
         "artifacts_dir": str(tmp_path), "nextcloud": {"server_names": [NAME], "server": server}},
    )  # fmt: skip
    with pytest.raises(SovereignError) as refused:
        preflight([host])
    message = str(refused.value)
    assert message.count("\n") == 0
    assert "nextcloud-30.0.2.tar.bz2 is not in the artifact cache" in message


def test_a_tarball_must_match_the_inventorys_sha256(tmp_path: Path) -> None:
    tarball = tmp_path / "nextcloud-30.0.2.tar.bz2"
    tarball.write_bytes(b"not really a release")
    good = hashlib.sha256(tarball.read_bytes()).hexdigest()
    server = {"file": tarball.name, "sha256": good}
    assert tarball_problem(spec({"server": server}, artifacts_dir=str(tmp_path))) is None
    wrong = tarball_problem(
        spec({"server": {**server, "sha256": "c" * 64}}, artifacts_dir=str(tmp_path))
    )
    assert wrong is not None and f"got {good}" in wrong and "refusing" in wrong
