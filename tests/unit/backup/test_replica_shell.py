"""The replica shell's request parsing: a replication key lists or receives a replica under
its own prefix, and nothing else."""

from __future__ import annotations

import pytest

from appliance.backup.replica_shell import Request, RequestError, parse_request

PREFIX = "tank/replicas/nas1"


@pytest.mark.parametrize(
    ("command", "want"),
    [
        ("list tank/nextcloud", Request("list", f"{PREFIX}/tank/nextcloud")),
        ("receive tank/postgres", Request("receive", f"{PREFIX}/tank/postgres")),
        ("list 'tank/agent'", Request("list", f"{PREFIX}/tank/agent")),
    ],
)
def test_list_and_receive_under_the_prefix(command: str, want: Request) -> None:
    assert parse_request(command, PREFIX) == want


@pytest.mark.parametrize(
    ("command", "why"),
    [
        (None, "no command"),
        ("", "no command"),
        ("sh", "only runs"),
        ("zfs destroy -r tank", "only runs"),
        ("receive -F tank/x", "only runs"),
        ("list tank/x extra", "only runs"),
        ("list ../../etc", "not a dataset name"),
        ("list tank/../other", "not a dataset name"),
        ("list tank/x@snap", "not a dataset name"),
        ("list /tank", "not a dataset name"),
        ("list tank/x;reboot", "not a dataset name"),
        ("list 'unterminated", "unreadable"),
    ],
)
def test_everything_else_is_refused(command: str | None, why: str) -> None:
    with pytest.raises(RequestError, match=why):
        parse_request(command, PREFIX)


def test_a_bad_prefix_is_refused() -> None:
    with pytest.raises(RequestError, match="prefix"):
        parse_request("list tank/x", "tank/$(reboot)")
