"""A plain backup host (`kind = "backup"`): validated in the host spec, given one dataset for
the replicas, a firewall opening SSH only, the replica runner's few wheels, and only the
deploy stages that receiving needs."""

from __future__ import annotations

from typing import Any

import pytest

from deploy.stages import BACKUP_HOST_STAGES, STAGES, stages_for
from roles.firewall.plan import rules
from roles.replication.backup_host import (
    RUNNER_WHEELS,
    receiving_rules,
    runner_wheels,
    wheels_digest,
)
from roles.replication.plan import link_of
from roles.settings import RoleSettingsError
from roles.spec import HostSpec, parse_host_spec

DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}


def spec(name: str, **data: Any) -> HostSpec:
    return parse_host_spec(name, {"ssh_hostname": "10.0.0.20", **DISKS, **data})


def test_kind_defaults_to_appliance_and_only_two_kinds_exist() -> None:
    assert spec("nas").kind == "appliance"
    assert spec("bk", kind="backup").kind == "backup"
    with pytest.raises(RoleSettingsError, match=r"host bk: kind: one of appliance, backup"):
        spec("bk", kind="nas")


def test_a_backup_host_gets_one_dataset_for_the_replicas_unless_it_declares_its_own() -> None:
    backup = spec("bk", kind="backup")
    assert [d.name for d in backup.storage.datasets] == ["tank/replicas"]
    assert backup.storage.datasets[0].compression == "on"
    appliance = spec("nas")
    assert "tank/nextcloud" in [d.name for d in appliance.storage.datasets]
    own = spec(
        "bk",
        kind="backup",
        storage={
            "pools": [{"name": "vault0", "layout": "raidz2", "disks": DISKS["storage"]["disks"]}],
        },
    )
    assert [d.name for d in own.storage.datasets] == ["vault0/replicas"]
    declared = spec(
        "bk", kind="backup", storage={**DISKS["storage"], "datasets": [{"name": "tank/r"}]}
    )
    assert [d.name for d in declared.storage.datasets] == ["tank/r"]


def test_a_backup_host_cannot_replicate_itself() -> None:
    with pytest.raises(RoleSettingsError, match=r"a backup host .* only receives"):
        spec("bk", kind="backup", replication={"target": "elsewhere"})


def test_an_appliance_replicates_into_a_backup_hosts_replicas_dataset() -> None:
    specs = {
        "nas": parse_host_spec(
            "nas", {"ssh_hostname": "10.0.0.11", **DISKS, "replication": {"target": "bk"}}
        ),
        "bk": spec("bk", kind="backup"),
    }
    link = link_of(specs["nas"], specs)
    assert link is not None and link.prefix == "tank/replicas/nas"
    # The replica shell creates PREFIX's parent under the declared tank/replicas.
    assert link.prefix.startswith(specs["bk"].storage.datasets[0].name + "/")


def test_the_backup_hosts_firewall_opens_ssh_and_the_declared_allow_only() -> None:
    data: dict[str, Any] = {
        "appliance_subnet": "10.0.0.0/24",
        "peers": ["10.0.0.11"],
        "firewall": {
            "admin_networks": ["192.0.2.0/24"],
            "allow": [{"port": 9100, "sources": ["10.0.0.5"], "comment": "node exporter"}],
        },
    }
    appliance = spec("nas", **data)
    backup = spec("bk", kind="backup", ssh_port=2222, **data)
    opened = {(r.port, r.sources) for r in receiving_rules(backup)}
    assert opened == {(2222, ("192.0.2.0/24",)), (9100, ("10.0.0.5/32",))}
    # The same data on an appliance opens the edge, PostgreSQL and the peers' ports too.
    assert len(rules(appliance)) > len(opened)
    everywhere = receiving_rules(spec("bk", kind="backup"))
    assert [(r.port, r.anywhere) for r in everywhere] == [(22, True)]


def test_the_runner_gets_the_agents_wheel_and_pydantics_only() -> None:
    files = {
        "sovereign_agent-0.1.0-py3-none-any.whl": "a" * 64,
        "pydantic-2.14.4-py3-none-any.whl": "b" * 64,
        "pydantic_core-2.50.5-cp311-cp311-manylinux2014_x86_64.whl": "c" * 64,
        "pydantic_settings-2.16.3-py3-none-any.whl": "d" * 64,
        "annotated_types-0.8.0-py3-none-any.whl": "e" * 64,
        "typing_extensions-4.16.0-py3-none-any.whl": "f" * 64,
        "typing_inspection-0.4.5-py3-none-any.whl": "0" * 64,
        "fastapi-0.165.0-py3-none-any.whl": "1" * 64,
    }
    chosen = runner_wheels(files)
    assert sorted(name.split("-")[0] for name in chosen) == sorted(RUNNER_WHEELS)
    assert wheels_digest(chosen) == wheels_digest(dict(reversed(chosen.items())))
    assert wheels_digest(chosen) != wheels_digest({**chosen, next(iter(chosen)): "9" * 64})
    del files["pydantic_core-2.50.5-cp311-cp311-manylinux2014_x86_64.whl"]
    with pytest.raises(RoleSettingsError, match="lacks pydantic_core"):
        runner_wheels(files)


def test_a_backup_host_runs_only_the_receiving_stages_in_the_deploys_order() -> None:
    assert stages_for("appliance", None) == STAGES
    backup = stages_for("backup", None)
    assert backup == ("base", "firewall", "zfs", "replication")
    assert set(backup) <= set(BACKUP_HOST_STAGES)
    assert list(backup) == sorted(backup, key=STAGES.index)
    assert stages_for("backup", "zfs-pools") == ("base", "firewall", "zfs-pools")
    assert stages_for("backup", "postgres") == ("base", "firewall", "zfs")
