"""pgBackRest's `info --output=json` parsed, on output captured from lab host h2-1
(pgBackRest 2.45, PostgreSQL 15, 2026-11-28): a stanza before stanza-create, one with a full
and an incremental backup; malformed documents are refused naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.backup.pgbackrest_info import InfoError, parse_info
from roles.pgbackrest.plan import stanza_actions

FIXTURES = Path(__file__).parents[1] / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def test_a_stanza_before_stanza_create() -> None:
    info = parse_info(fixture("pgbackrest-info-missing.json"), "main")
    assert info is not None and not info.exists
    assert info.latest is None and info.backups == ()
    assert stanza_actions(info) == ["stanza-create", "backup"]


def test_a_stanza_with_backups() -> None:
    info = parse_info(fixture("pgbackrest-info-backups.json"))
    assert info is not None and info.exists and info.status_code == 0
    assert [b.type for b in info.backups] == ["full", "incr"]
    latest = info.latest
    assert latest is not None and latest is info.backups[-1]
    assert latest.label.endswith("I") and latest.label.startswith(info.backups[0].label)
    assert latest.stopped >= latest.started > 1_700_000_000
    assert info.backups[0].size > 10_000_000  # a whole cluster
    assert 0 < latest.repo_size < info.backups[0].repo_size  # an incremental holds little
    assert info.wal_min is not None and info.wal_max is not None
    assert info.wal_min <= latest.wal_start <= latest.wal_stop <= info.wal_max  # type: ignore[operator]
    summary = info.summary()
    assert summary["backups"] == {"full": 1, "diff": 0, "incr": 1}
    assert summary["latest"]["label"] == latest.label
    assert stanza_actions(info) == []


def test_another_stanza_is_not_this_one() -> None:
    assert parse_info(fixture("pgbackrest-info-backups.json"), "other") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ERROR: [055]", "not JSON"),
        ('{"name": "main"}', "a list of stanzas"),
        ('[{"name": "main"}]', "status"),
        ('[{"name": "main", "status": {"code": "0"}}]', "status.code: an integer"),
        (
            '[{"name": "main", "status": {"code": 0}, "backup": [{"label": "x", "type": "snap",'
            ' "timestamp": {"start": 1, "stop": 2}}]}]',
            "type: one of",
        ),
    ],
)
def test_malformed_output_is_refused(text: str, message: str) -> None:
    with pytest.raises(InfoError, match=message):
        parse_info(text, "main")
