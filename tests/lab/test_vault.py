"""Vault on a real lab host: keys kept right, secrets nowhere in clear, unattended unseal.

The lab's stand-in operator age identity opens the init keys file, as the operator's own would.
"""

from __future__ import annotations

import contextlib
import json
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from sovereign.lab.state import LabPaths
from tests.lab.conftest import INVENTORY, Deploys, sovereign, ssh


@pytest.fixture(scope="module")
def init_keys(lab: str, deploys: Deploys) -> dict[str, Any]:
    from roles.vault.keys import load_init_keys

    assert deploys.first.returncode == 0, deploys.first.failure_report()
    paths = LabPaths(lab)
    return load_init_keys(
        paths.vault_dir(f"{lab}-1") / "init-keys.json.age", paths.operator_age_key
    )


@contextmanager
def vault_api(lab: str, deploy_login: bool = False) -> Iterator[Any]:
    """hvac client on the lab host's Vault, through SSH as the operator CLI does."""
    from roles.vault.client import login_deploy
    from sovereign.vault import session, vault_hosts

    target = vault_hosts(INVENTORY)[0]
    with session(target) as client:
        if deploy_login:
            login_deploy(client, target.controller_dir / "deploy-approle.json")
        yield client


def wait_unsealed(lab: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        proc = ssh(
            lab,
            "/usr/local/bin/bao status -format=json -address=https://127.0.0.1:8200"
            " -ca-cert=/etc/sovereign/vault/tls/ca.crt",
            check=False,
        )
        if proc.stdout.strip().startswith("{"):
            status = json.loads(proc.stdout)
            if status.get("initialized") and not status.get("sealed"):
                return status
        time.sleep(1)
    pytest.fail(f"Vault not unsealed within {timeout} s: {status}")


def test_init_keys_are_on_the_controller_encrypted(lab: str, init_keys: dict[str, Any]) -> None:
    directory = LabPaths(lab).vault_dir(f"{lab}-1")
    encrypted = directory / "init-keys.json.age"
    assert not (directory / "init-keys.json").exists()
    assert stat.S_IMODE(encrypted.stat().st_mode) == 0o600
    assert init_keys["kind"] == "recovery"  # static seal: recovery keys, not unseal keys
    assert len(init_keys["keys_b64"]) == 5
    assert init_keys["threshold"] == 3
    raw = encrypted.read_bytes()
    for key in init_keys["keys_b64"]:
        assert key.encode() not in raw


def test_root_token_was_revoked(lab: str, init_keys: dict[str, Any]) -> None:
    from hvac.exceptions import Forbidden

    with vault_api(lab) as client:
        client.token = init_keys["root_token"]
        with pytest.raises(Forbidden):
            client.auth.token.lookup_self()


def lab_secrets(lab: str, init_keys: dict[str, Any]) -> list[str]:
    """Everything that must never be seen in clear: key shares, root token, PG passwords."""
    with vault_api(lab, deploy_login=True) as client:
        passwords = [
            client.secrets.kv.v2.read_secret_version(
                f"postgres/{role}", mount_point="sovereign", raise_on_deleted_version=True
            )["data"]["data"]["password"]
            for role in ("nextcloud", "sovereign")
        ]
    secrets = [*init_keys["keys_b64"], init_keys["root_token"], *passwords]
    assert all(len(s) >= 20 for s in secrets)
    return secrets


NEXTCLOUD_DB_CONFIG = "/etc/sovereign/nextcloud/config/db.config.php"


def test_secrets_appear_nowhere_in_clear(
    lab: str, deploys: Deploys, init_keys: dict[str, Any]
) -> None:
    secrets = lab_secrets(lab, init_keys)
    for output in (deploys.first.output, deploys.second.output):
        assert not [s for s in secrets if s in output], "a secret is in the deploy output"
    # verbose: every field, the _CMDLINE of each logging process included
    journal = ssh(lab, "journalctl --no-pager -o verbose").stdout
    assert len(journal) > 10_000  # the journal was really read
    assert not [s for s in secrets if s in journal], "a secret is in the journal"
    # Every file of the host, the Vault dataset and audit log included; the patterns go in on
    # stdin so they are never written to the host.
    # One file holds a secret in clear by design: Nextcloud's PHP reads its database password
    # from its config (roles/nextcloud, when a module deployed it): root:www-data, 0640.
    paths = LabPaths(lab)
    proc = subprocess.run(
        ["ssh", "-F", str(paths.ssh_config), f"{lab}-1",
         "grep -rlsF -f /dev/stdin / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev "
         f"--exclude={NEXTCLOUD_DB_CONFIG.rsplit('/', 1)[1]}"],
        input="\n".join(secrets) + "\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, f"found in host files: {proc.stdout}"
    mode = ssh(lab, f"stat -c '%U %G %a' {NEXTCLOUD_DB_CONFIG} 2>/dev/null || true").stdout
    assert mode.strip() in ("", "root www-data 640"), mode


def test_restarted_vault_unseals_itself(lab: str, deploys: Deploys) -> None:
    ssh(lab, "systemctl restart vault.service")
    assert wait_unsealed(lab)["type"] == "static"


def test_status_command_reports_unsealed(lab: str, deploys: Deploys) -> None:
    proc = sovereign("vault", "status", INVENTORY, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{lab}-1: unsealed (static seal)" in proc.stdout


def test_unseal_command_leaves_an_unsealed_vault_alone(lab: str, deploys: Deploys) -> None:
    proc = sovereign("vault", "unseal", INVENTORY, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{lab}-1: unsealed (static seal)" in proc.stdout
    assert "nothing to do" in proc.stdout


def test_rebooted_host_comes_back_unsealed(lab: str, deploys: Deploys) -> None:
    """A real reboot: the container's systemd goes down and boots again; ZFS imports the pool,
    the dataset mounts, and Vault unseals with nobody there."""
    before = ssh(lab, "cat /proc/sys/kernel/random/boot_id").stdout
    ssh(lab, "systemctl reboot", check=False)
    # The lab boots a rebooted host again by itself, like a real machine: no `lab up`.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        probe = ssh(lab, "cat /proc/sys/kernel/random/boot_id", check=False)
        if probe.returncode == 0 and probe.stdout.strip() and probe.stdout != before:
            break
        time.sleep(1)
    else:
        pytest.fail("the lab host did not come back by itself after `systemctl reboot`")
    wait_unsealed(lab)
    assert ssh(lab, "mountpoint -q /tank/vault && echo mounted").stdout.strip() == "mounted"


def test_unit_refuses_to_start_without_its_dataset(lab: str, deploys: Deploys) -> None:
    """With tank/vault unmounted, Vault must not start on the empty directory (it would look
    like a new, uninitialised Vault and invite a second init)."""
    ssh(lab, "systemctl stop vault.service && zfs unmount tank/vault")
    try:
        ssh(lab, "systemctl start vault.service", check=False)
        time.sleep(2)
        state = ssh(lab, "systemctl is-active vault.service", check=False).stdout.strip()
        assert state != "active"
        leftover = ssh(lab, "ls -A /tank/vault | wc -l").stdout.strip()
        assert leftover == "0", "Vault wrote into the bare mountpoint"
    finally:
        ssh(lab, "zfs mount tank/vault && systemctl restart vault.service")
    wait_unsealed(lab)


def agent_health(lab: str) -> dict[str, Any]:
    from tests.lab.conftest import edge_of

    response = edge_of(lab).admin("/health/detailed")  # through the edge, with a token
    services: dict[str, Any] = response.json()["services"]
    return services


def wait_health(lab: str, check: Any, timeout: float = 60) -> dict[str, Any]:
    """Poll /health/detailed (the agent re-checks every 15 s) until check(services) holds."""
    deadline = time.monotonic() + timeout
    services: dict[str, Any] = {}
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # the agent may be restarting
            services = agent_health(lab)
            if check(services):
                return services
        time.sleep(1)
    pytest.fail(f"agent health did not reach the expected state: {services}")


def test_admin_credentials_are_for_the_operator_only(lab: str, init_keys: dict[str, Any]) -> None:
    from roles.vault.keys import load_init_keys

    paths = LabPaths(lab)
    path = paths.vault_dir(f"{lab}-1") / "admin-approle.json.age"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    admin = load_init_keys(path, paths.operator_age_key)
    assert admin["secret_id"].encode() not in path.read_bytes()


def test_sealed_vault_is_down_and_the_agent_serves_cached_secrets(
    lab: str, deploys: Deploys
) -> None:
    """Seal Vault for real (break-glass admin AppRole, sudo on sys/seal): the agent reports it
    down and keeps checking PostgreSQL with the password it cached; after a restart Vault
    unseals itself and the agent sees it up again."""
    from roles.vault.keys import load_init_keys

    services = wait_health(
        lab,
        lambda s: (
            s["postgres"]["status"] == "up"
            and s["vault"]["status"] == "up"
            and s["vault"]["details"].get("cached_secrets", 0) >= 1
        ),
    )
    paths = LabPaths(lab)
    admin = load_init_keys(
        paths.vault_dir(f"{lab}-1") / "admin-approle.json.age", paths.operator_age_key
    )
    with vault_api(lab) as client:
        client.auth.approle.login(role_id=admin["role_id"], secret_id=admin["secret_id"])
        client.sys.seal()
    try:
        services = wait_health(lab, lambda s: s["vault"]["status"] == "down")
        assert services["vault"]["details"]["sealed"] is True
        assert services["postgres"]["status"] == "up", services["postgres"]
        # A fresh round, well after the seal, still logs in to PostgreSQL from the cache.
        checked = services["postgres"]["checked_at"]
        services = wait_health(lab, lambda s: s["postgres"]["checked_at"] > checked)
        assert services["postgres"]["status"] == "up", services["postgres"]
    finally:
        ssh(lab, "systemctl restart vault.service")
    wait_unsealed(lab)
    wait_health(lab, lambda s: s["vault"]["status"] == "up")


def test_passwords_moved_into_vault_are_the_ones_postgres_accepts(
    lab: str, init_keys: dict[str, Any]
) -> None:
    with vault_api(lab, deploy_login=True) as client:
        password = client.secrets.kv.v2.read_secret_version(
            "postgres/nextcloud", mount_point="sovereign", raise_on_deleted_version=True
        )["data"]["data"]["password"]
    paths = LabPaths(lab)
    login = (
        "read -r PGPASSWORD && export PGPASSWORD && psql -X -At -h 127.0.0.1 -U nextcloud "
        "-d nextcloud -c 'select current_user'"
    )
    proc = subprocess.run(
        ["ssh", "-F", str(paths.ssh_config), f"{lab}-1", login],
        input=password + "\n", capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "nextcloud"
