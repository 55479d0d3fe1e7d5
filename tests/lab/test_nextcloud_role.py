"""The Nextcloud role on a lab host, up to the server itself (no Nextcloud release can be had
here, so `nextcloud.server` is left out): PHP-FPM 8.2 serves the probe page through nginx's
loopback vhost with every extension Nextcloud needs; the edge answers HTTPS for Nextcloud's
name (certificate from the appliance CA) and reaches that vhost, which says "not installed";
the database and its role exist in the appliance's PostgreSQL with the password in Vault KV;
Redis listens on its socket only and www-data may use it; the cron timer is installed and
waiting (its service skipped without cron.php); the vhost as it will be with the server
installed passes `nginx -t`; a second deploy changes nothing.

Run with SOVEREIGN_TEST_LAB=nc."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from roles.nextcloud import plan
from sovereign.runner import DeployResult, run_deploy
from tests.lab.conftest import INVENTORY as LAB_INVENTORY
from tests.lab.conftest import PROJECT_ROOT, ssh
from tests.lab.inventories.nextcloud_settings import NEXTCLOUD_NAME

INVENTORY = str(PROJECT_ROOT / "tests" / "lab" / "inventories" / "nextcloud.py")


@pytest.fixture(scope="module")
def deployed(lab: str) -> Iterator[tuple[DeployResult, DeployResult]]:
    first = run_deploy(INVENTORY, echo=False)
    try:
        assert first.returncode == 0, first.failure_report()
        second = run_deploy(INVENTORY, echo=False)
        assert second.returncode == 0, second.failure_report()
        yield first, second
    finally:
        # The session's lab goes back to its own inventory for the modules after this one
        # (the edge without Nextcloud's name, the declared roles as they were).
        back = run_deploy(LAB_INVENTORY, echo=False)
        assert back.returncode == 0, back.failure_report()


def test_php_fpm_serves_the_probe_through_nginx(lab: str, deployed: object) -> None:
    answer = ssh(lab, f"curl -sf http://127.0.0.1:8081/{plan.PROBE}").stdout
    probe = json.loads(answer)
    assert probe["php"].startswith("8.2.")
    assert probe["sapi"] == "fpm-fcgi"
    assert probe["pool_user"] == "www-data"
    assert probe["config_dir"] == plan.CONFIG_DIR + "/"
    assert [name for name, loaded in probe["extensions"].items() if not loaded] == []


def test_the_edge_answers_nextclouds_name(lab: str, deployed: object) -> None:
    from sovereign.lab.state import LabPaths, load_state

    state = load_state(lab)
    assert state is not None
    address = state.hosts[f"{lab}-1"].address
    ca = LabPaths(lab).vault_dir(f"{lab}-1") / "tls" / "ca.crt"
    url = f"https://{NEXTCLOUD_NAME}"
    resolve = f"{NEXTCLOUD_NAME}:443:{address}"
    base = ["curl", "-s", "--cacert", str(ca), "--resolve", resolve, "-o", "/dev/null"]
    page = subprocess.run([*base, "-w", "%{http_code}", url + "/"], capture_output=True, text=True)
    assert page.stdout == "503", page.stderr  # the vhost: no server installed
    body = subprocess.run(
        ["curl", "-s", "--cacert", str(ca), "--resolve", resolve, url + "/"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert "Nextcloud is not installed" in body.stdout
    probe = subprocess.run([*base, "-w", "%{http_code}", f"{url}/{plan.PROBE}"],
                           capture_output=True, text=True)  # fmt: skip
    assert probe.stdout == "404"  # the probe stays on the host


def test_database_role_and_password_in_vault(lab: str, deployed: object) -> None:
    query = "SELECT datname, pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'nextcloud'"
    found = ssh(lab, f'su postgres -s /bin/sh -c "psql -tAc \\"{query}\\""').stdout.strip()
    assert found == "nextcloud|nextcloud"
    moved = ssh(lab, "ls /etc/sovereign/secrets/postgres/").stdout.split()
    assert "nextcloud.in-vault" in moved and "nextcloud" not in moved  # in KV postgres/nextcloud


def test_php_reaches_the_database_with_the_password_from_vault(lab: str, deployed: object) -> None:
    """db.config.php (root:www-data 0640) holds what the deploy read from Vault: PHP, as the
    web server's user, logs in to the nextcloud database with it over loopback TCP."""
    mode = ssh(lab, f"stat -c '%U:%G %a' {plan.DB_CONFIG}").stdout.strip()
    assert mode == "root:www-data 640"
    script = (
        f"include '{plan.DB_CONFIG}'; "
        "$db = new PDO('pgsql:host=127.0.0.1;port=5432;dbname=nextcloud', 'nextcloud', "
        "$CONFIG['dbpassword']); "
        "echo $db->query('SELECT current_user')->fetchColumn();"
    )
    ssh(lab, f"cat > /tmp/nc-db.php <<'EOF'\n<?php {script}\nEOF")
    who = ssh(lab, "su www-data -s /bin/sh -c 'php8.2 /tmp/nc-db.php'")
    assert who.stdout.strip() == "nextcloud"


def test_redis_on_its_socket_only(lab: str, deployed: object) -> None:
    assert ssh(lab, f"systemctl is-active {plan.REDIS_UNIT}").stdout.strip() == "active"
    assert ssh(lab, "systemctl is-active redis-server.service", check=False).stdout.strip() != (
        "active"
    )
    ping = ssh(lab, f"su www-data -s /bin/sh -c 'redis-cli -s {plan.REDIS_SOCKET} ping'")
    assert ping.stdout.strip() == "PONG"
    listening = ssh(lab, "ss -ltnp").stdout
    assert "redis" not in listening


def test_cron_timer_installed_and_waiting(lab: str, deployed: object) -> None:
    timer = ssh(lab, f"systemctl show {plan.CRON_TIMER} -p ActiveState -p UnitFileState").stdout
    assert "ActiveState=active" in timer and "UnitFileState=enabled" in timer
    ssh(lab, f"systemctl start {plan.CRON_SERVICE}")
    result = ssh(lab, f"systemctl show {plan.CRON_SERVICE} -p ConditionResult -p Result").stdout
    assert "ConditionResult=no" in result and "Result=success" in result


def test_the_installed_vhost_passes_nginx_t(lab: str, deployed: object) -> None:
    """The vhost as rendered once nextcloud.server is set: checked by nginx, not run."""
    from jinja2 import Template

    from roles.nextcloud.settings import NextcloudServer, NextcloudSettings

    nc = NextcloudSettings(
        server_names=[NEXTCLOUD_NAME],
        server=NextcloudServer(file="nextcloud-30.0.2.tar.bz2", sha256="0" * 64),
    )
    source = (PROJECT_ROOT / "roles" / "nextcloud" / "sovereign-nextcloud.conf.j2").read_text()
    site = Template(source).render(**plan.nginx_args(nc)).replace("8081", "18081")
    site = site.replace("upstream sovereign_nextcloud_php", "upstream installed_php")
    site = site.replace("fastcgi_pass sovereign_nextcloud_php", "fastcgi_pass installed_php")
    for included in ("fastcgi_params", "mime.types"):  # relative to nginx.conf's directory
        site = site.replace(f"include {included};", f"include /etc/nginx/{included};")
    wrapper = f"events {{}}\nhttp {{\n{site}\n}}\n"
    ssh(lab, f"mkdir -p /tmp/nc-check && cat > /tmp/nc-check/nginx.conf <<'EOF'\n{wrapper}EOF")
    checked = ssh(lab, "nginx -t -c /tmp/nc-check/nginx.conf 2>&1", check=False)
    assert "syntax is ok" in checked.stdout, checked.stdout


def test_a_second_deploy_changes_nothing_of_nextcloud(
    deployed: tuple[DeployResult, DeployResult],
) -> None:
    """(Other roles are another test's: the agent, for one, is reinstalled whenever its code
    changed in between, as it may in a shared checkout.)"""
    ours = [op for _, op, _ in deployed[1].results if op.startswith("Nextcloud (")]
    assert len(ours) > 15
    assert [op for _, op in deployed[1].changed if op.startswith("Nextcloud (")] == []
