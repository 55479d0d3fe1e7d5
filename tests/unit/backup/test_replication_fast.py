"""The fast replication run (`--only DATASET --snapshot`: tank/backups' own timer, the off-host
RPO) through the real runner and replica shell with the stand-ins of test_replication_runner,
and the units the role renders for it."""

from __future__ import annotations

import json
from pathlib import Path

import jinja2

from roles.replication.settings import ReplicationSettings
from tests.unit.backup.test_replication_runner import Host

ROLE = Path(__file__).parents[3] / "roles" / "replication"


def test_only_one_dataset_snapshotted_and_sent_the_protect_file_keeps_the_others(
    tmp_path: Path,
) -> None:
    host = Host(tmp_path)
    host.snapshot("tank/b", "t1", 3)
    assert host.run().returncode == 0  # the full run: both datasets
    assert (host.tmp / "protected.txt").read_text() == "tank/a@s2\ntank/b@t1\n"
    fast = host.run_with("--only", "tank/a", "--snapshot")
    assert fast.returncode == 0, fast.stderr
    [taken] = [n for n in host.replica("tank/a") if n.startswith("autosnap_")]
    assert taken.endswith("_frequently")  # the snapshot runner's name: its policy prunes it
    assert f"tank/a: snapshot {taken}" in fast.stdout
    assert "tank/b" not in fast.stdout and host.replica("tank/b") == ["t1"]
    assert "1/1 datasets ok" in fast.stdout
    # tank/b's base stays protected although this run did not send it
    assert (host.tmp / "protected.txt").read_text() == f"tank/a@{taken}\ntank/b@t1\n"
    state = json.loads((host.tmp / "state.json").read_text())
    assert state["datasets"]["tank/a"]["last_success"]["last_snapshot"] == taken


def test_only_a_dataset_of_the_config_and_snapshot_needs_only(tmp_path: Path) -> None:
    host = Host(tmp_path)
    unknown = host.run_with("--only", "tank/zzz")
    assert unknown.returncode == 2 and "--only tank/zzz: not a dataset of" in unknown.stderr
    bare = host.run_with("--snapshot")
    assert bare.returncode == 2 and "--snapshot needs --only" in bare.stderr
    assert host.replica("tank/a") == []  # nothing sent


def render(name: str, **args: object) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    return env.from_string((ROLE / name).read_text()).render(**args)


def test_the_fast_units() -> None:
    settings = ReplicationSettings(target="backup-1")
    assert settings.fast_datasets == ["tank/backups"] and settings.fast_on_calendar == "*:0/3"
    common = {"python": "/opt/py", "config": "/etc/sovereign/replication.json", "target": "b1",
              "lock": "/var/lib/sovereign/replication/run.lock", "timeout_s": 60}  # fmt: skip
    fast = render("sovereign-replication.service.j2", only=["tank/backups"], **common)
    assert (
        "ExecStart=/usr/bin/flock /var/lib/sovereign/replication/run.lock /opt/py -m "
        "appliance.backup.replication --config /etc/sovereign/replication.json "
        "--only tank/backups --snapshot\n"
    ) in fast
    full = render("sovereign-replication.service.j2", only=[], **common)
    assert "replication.json\n" in full and "--only" not in full and "flock" in full
    timer = render("sovereign-replication.timer.j2", target="b1", only=["tank/backups"],
                   on_calendar="*:0/3")  # fmt: skip
    assert "OnCalendar=*:0/3" in timer and "RandomizedDelaySec=5s" in timer
