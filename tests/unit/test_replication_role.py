"""The replication role's decisions: links between hosts of one inventory, the backup host's
restricted keys and sudoers rule, the key pair kept on the controller, and the backup host's
SSH key as the controller's known_hosts file holds it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import paramiko
import pytest

from appliance.backup.replication import ReplicationConfig
from controller.errors import SovereignError
from controller.sshkeys import ensure_key_pair, known_host_key
from roles.replication.plan import (
    SHELL,
    authorized_keys,
    link_of,
    links_to,
    runner_config,
    sudoers,
)
from roles.settings import RoleSettingsError
from roles.spec import HostSpec, parse_host_spec

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}


def spec(name: str, address: str, **data: Any) -> HostSpec:
    return parse_host_spec(name, {"ssh_hostname": address, **DISKS, **data})


def inventory(**replication: Any) -> dict[str, HostSpec]:
    return {
        "nas1": spec("nas1", "10.0.0.11", replication={"target": "backup", **replication}),
        "nas2": spec("nas2", "10.0.0.12", replication={"target": "backup"}),
        "backup": spec("backup", "10.0.0.20", ssh_port=2222),
    }


def test_a_link_defaults_to_every_dataset_under_the_targets_pool() -> None:
    specs = inventory()
    link = link_of(specs["nas1"], specs)
    assert link is not None
    assert (link.address, link.port, link.prefix) == ("10.0.0.20", 2222, "tank/replicas/nas1")
    assert link.datasets == tuple(d.name for d in specs["nas1"].storage.datasets)
    assert link_of(specs["backup"], specs) is None
    assert [x.source for x in links_to("backup", specs)] == ["nas1", "nas2"]
    assert links_to("nas1", specs) == []


@pytest.mark.parametrize(
    ("replication", "message"),
    [
        ({"target": "nowhere"}, "'nowhere' is not a host of this inventory"),
        ({"target": "nas1"}, "cannot be its own backup host"),
        ({"datasets": ["tank/other"]}, "tank/other not in storage.datasets"),
    ],
)
def test_bad_links_name_the_field(replication: dict[str, Any], message: str) -> None:
    specs = inventory(**replication)
    with pytest.raises(RoleSettingsError, match=message):
        link_of(specs["nas1"], specs)


def test_two_sources_into_one_prefix_are_refused() -> None:
    specs = inventory(prefix="tank/replicas/nas2")
    with pytest.raises(RoleSettingsError, match="both replicate into backup:tank/replicas/nas2"):
        links_to("backup", specs)


def test_bad_settings_name_the_field() -> None:
    with pytest.raises(RoleSettingsError, match=r"replication\.datasets"):
        spec("nas1", "10.0.0.11", replication={"target": "b", "datasets": []})
    with pytest.raises(RoleSettingsError, match=r"replication\.prefix"):
        spec("nas1", "10.0.0.11", replication={"target": "b", "prefix": "tank/$(x)"})


def test_each_key_may_only_run_the_replica_shell_under_its_prefix(tmp_path: Path) -> None:
    specs = inventory()
    links = links_to("backup", specs)
    keys = authorized_keys([(link, f"ssh-ed25519 AAAA{link.source} c") for link in links])
    lines = [line for line in keys.splitlines() if not line.startswith("#")]
    assert lines == [
        f'restrict,from="10.0.0.11",command="sudo -n {SHELL} tank/replicas/nas1" '
        "ssh-ed25519 AAAAnas1 c",
        f'restrict,from="10.0.0.12",command="sudo -n {SHELL} tank/replicas/nas2" '
        "ssh-ed25519 AAAAnas2 c",
    ]
    rules = sudoers(links)
    assert f"sovereign-replica ALL=(root) NOPASSWD: {SHELL} tank/replicas/nas1\n" in rules
    assert 'env_keep += "SSH_ORIGINAL_COMMAND SSH_CONNECTION"' in rules
    if shutil.which("visudo"):
        path = tmp_path / "sudoers"
        path.write_text(rules)
        check = subprocess.run(["visudo", "-c", "-f", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_the_runner_reads_the_config_the_role_writes() -> None:
    specs = inventory()
    link = link_of(specs["nas1"], specs)
    assert link is not None
    config = ReplicationConfig.model_validate(json.loads(runner_config(link, 3600)))
    assert (config.target, config.port, config.user) == ("10.0.0.20", 2222, "sovereign-replica")
    assert config.datasets == list(link.datasets)


def test_the_key_pair_is_made_once_and_is_an_openssh_key(tmp_path: Path) -> None:
    private, public = ensure_key_pair(tmp_path, "replication@nas1")
    again = ensure_key_pair(tmp_path, "replication@nas1")
    assert again == (private, public)
    key_file = tmp_path / "replication" / "id_ed25519"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert public.startswith("ssh-ed25519 ") and public.endswith(" replication@nas1")
    if shutil.which("ssh-keygen"):
        derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], capture_output=True,
                                 text=True, check=True)  # fmt: skip
        assert derived.stdout.split()[:2] == public.split()[:2]


def test_the_backup_hosts_key_comes_from_the_controllers_known_hosts(tmp_path: Path) -> None:
    ensure_key_pair(tmp_path, "x")  # any ed25519 key serves as the backup host's
    host_key = paramiko.Ed25519Key.from_private_key_file(
        str(tmp_path / "replication" / "id_ed25519")
    )
    known = paramiko.HostKeys()
    known.add("[10.0.0.20]:2222", "ssh-ed25519", host_key)
    hashed = paramiko.HostKeys()
    hashed.add(paramiko.HostKeys.hash_host("10.0.0.21"), "ssh-ed25519", host_key)
    plain_file, hashed_file = tmp_path / "known_hosts", tmp_path / "hashed"
    known.save(str(plain_file))
    hashed.save(str(hashed_file))
    assert known_host_key(plain_file, "10.0.0.20", 2222) == ("ssh-ed25519", host_key.get_base64())
    assert known_host_key(hashed_file, "10.0.0.21")[1] == host_key.get_base64()
    with pytest.raises(SovereignError, match=r"does not know 10\.0\.0\.20's SSH host key"):
        known_host_key(plain_file, "10.0.0.20")


def test_the_backup_host_prunes_every_replica_on_the_backup_template() -> None:
    import tomllib

    from appliance.backup.policy import TEMPLATES, SnapshotConfig
    from roles.replication.plan import replica_policy

    specs = inventory()
    text = replica_policy(links_to("backup", specs))
    config = SnapshotConfig.model_validate(tomllib.loads(text))
    names = sorted(config.datasets)
    assert "tank/replicas/nas1/tank/nextcloud" in names
    assert "tank/replicas/nas2/tank/postgres" in names
    assert all(policy == TEMPLATES["backup"] for policy in config.datasets.values())
    assert not TEMPLATES["backup"].autosnap  # never taken on the backup host
