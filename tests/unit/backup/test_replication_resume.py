"""Resumable sends: the backup host's answer parsed on captured `zfs get` output (zfs-fuse
has no receive_resume_token; OpenZFS prints `-` or the token), the resume-or-send decision,
and the runner end to end through the real replica shell with the `zfs` stand-in in its
OpenZFS mode: a send cut in the middle resumes from its token on the next run; a token whose
snapshot was pruned here is dropped and the plan sends afresh; zfs-fuse sends as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.backup.replica_shell import RequestError, parse_token, token_argv
from appliance.backup.replication_plan import Send, plan_resume
from tests.unit.backup.test_replication_runner import PREFIX, Host

# `zfs get -H -o value receive_resume_token DS`: zfs-fuse's as captured on a lab host (Debian
# 12's zfs-fuse 0.7.0-25, exit 2, the same for a dataset that does not exist); OpenZFS's
# value as zfsprops(7) documents it ("-" when unset; a token of hex digits and dashes), not
# captured here (no OpenZFS on this machine).
ZFS_FUSE_ERR = (
    "bad property list: invalid property 'receive_resume_token'\n"
    'usage:\n\tget [-rHp] [-d max] [-o "all" | field[,...]] [-s source[,...]]\n'
)
TOKEN = "1-e604ea4bf-e0-789c63a2a062a20203c3a11c0a01c2d20c5c2d5e2d1ac6c6c8000d0d1c0c94a0a4"


@pytest.mark.parametrize(
    ("code", "out", "err", "want"),
    [
        (2, "", ZFS_FUSE_ERR, None),  # zfs-fuse: cannot resume
        (0, "-\n", "", ""),  # OpenZFS, nothing interrupted
        (0, f"{TOKEN}\n", "", TOKEN),
    ],
)
def test_parse_token(code: int, out: str, err: str, want: str | None) -> None:
    assert parse_token(code, out, err) == want


@pytest.mark.parametrize(
    ("code", "out", "err"),
    [
        (1, "", "cannot open 'tank/x': dataset does not exist\n"),
        (0, "1-abc; reboot\n", ""),
    ],
)
def test_parse_token_refuses_the_unexpected(code: int, out: str, err: str) -> None:
    with pytest.raises(RequestError):
        parse_token(code, out, err)


def test_token_argv_reads_one_property() -> None:
    assert token_argv("tank/r/x") == [
        "zfs", "get", "-H", "-o", "value", "receive_resume_token", "tank/r/x",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("code", "answer", "kind"),
    [
        (0, "unsupported\n", "send"),
        (0, "none\n", "send"),
        (2, "", "send"),  # an older replica shell refuses the verb
        (1, "", "send"),
        (0, f"token {TOKEN}\n", "resume"),
    ],
)
def test_plan_resume(code: int, answer: str, kind: str) -> None:
    decision = plan_resume("tank/a", code, answer)
    assert decision.kind == kind
    if kind == "resume":
        assert decision.send == Send("tank/a", "", token=TOKEN)
        assert decision.send.argv() == ["zfs", "send", "-t", TOKEN]
    else:
        assert decision.send is None


@pytest.fixture
def source(tmp_path: Path) -> Host:
    """The appliance with tank/a (s1, s2) and tank/b, replicating to the stand-in's PREFIX."""
    return Host(tmp_path)


def openzfs(host: Host, cut: bool) -> None:
    state = host.read()
    state["resumable"] = True
    state["cut_next"] = cut
    host.write(state)


def test_an_interrupted_full_send_resumes_from_its_token(source: Host) -> None:
    host = source
    openzfs(host, cut=True)
    first = host.run_with("--only", "tank/a")
    assert first.returncode == 1
    assert "failed tank/a" in first.stdout
    assert host.read()["tokens"].get(f"{PREFIX}/tank/a")  # the partial receive kept
    second = host.run_with("--only", "tank/a")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "tank/a: resuming (an interrupted receive left a resume token)" in second.stdout
    assert "sending -I tank/a@s1 tank/a@s2" in second.stdout  # the rest, after the resume
    assert "sending tank/a@s1" not in second.stdout  # not the full send again
    assert host.replica("tank/a") == ["s1", "s2"]
    assert f"{PREFIX}/tank/a" not in host.read()["tokens"]


def test_an_interrupted_incremental_resumes(source: Host) -> None:
    host = source
    openzfs(host, cut=False)
    assert host.run_with("--only", "tank/a").returncode == 0
    host.snapshot("tank/a", "s3", 3)
    openzfs(host, cut=True)
    assert host.run_with("--only", "tank/a").returncode == 1
    again = host.run_with("--only", "tank/a")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming" in again.stdout and "tank/a: current at s3" in again.stdout
    assert host.replica("tank/a") == ["s1", "s2", "s3"]


def test_a_token_whose_snapshot_was_pruned_is_dropped_and_sent_afresh(source: Host) -> None:
    host = source
    openzfs(host, cut=True)
    assert host.run_with("--only", "tank/a").returncode == 1  # cut in the full send of s1
    state = host.read()
    state["datasets"]["tank/a"] = [["s2", 2], ["s3", 3]]  # s1 pruned here meanwhile
    host.write(state)
    run = host.run_with("--only", "tank/a")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "cannot resume" in run.stdout and "dropping the partial receive" in run.stdout
    assert host.replica("tank/a") == ["s2", "s3"]
    assert host.read()["tokens"] == {}


def test_on_zfs_fuse_an_interrupted_send_starts_over(source: Host) -> None:
    host = source
    state = host.read()
    state["cut_next"] = True  # no "resumable": zfs-fuse
    host.write(state)
    assert host.run_with("--only", "tank/a").returncode == 1
    run = host.run_with("--only", "tank/a")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "resuming" not in run.stdout and "sending tank/a@s1" in run.stdout
    assert host.replica("tank/a") == ["s1", "s2"]
