"""The pure half of the log endpoints: a query's journalctl arguments and the parsing of
``journalctl -o json`` lines captured on a lab host (fixtures/journalctl-json.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.logs.journal import (
    BadQuery,
    LogQuery,
    cursor_position,
    cursor_time,
    journalctl_argv,
    parse_entry,
    resolve_service,
    split_windows,
)

CAPTURED = (Path(__file__).parent / "fixtures" / "journalctl-json.txt").read_text().splitlines()


def test_captured_lines_parse_into_entries() -> None:
    entries = [parse_entry(line) for line in CAPTURED]
    assert all(e is not None for e in entries)
    binary, *_, journald = [e for e in entries if e is not None]
    # A message that is not UTF-8 comes as a list of bytes; it is decoded, not dropped.
    assert binary.message.startswith("bad ") and binary.message.endswith(" bytes")
    assert binary.level == "warning" and binary.identifier == "probe" and binary.unit is None
    assert journald.unit == "systemd-journald.service" and journald.pid == 17
    assert journald.host == "lg-1"
    assert journald.time == pytest.approx(1795913956.811790)
    assert journald.cursor.startswith("s=") and ";i=" in journald.cursor


def test_lines_that_are_not_entries_are_skipped() -> None:
    assert parse_entry("-- No entries --") is None
    assert parse_entry('{"MESSAGE": "no cursor"}') is None


def test_arguments_newest_first_one_more_than_the_page() -> None:
    argv = journalctl_argv(LogQuery(limit=50), "journalctl", None)
    assert argv[:5] == ["journalctl", "--no-pager", "-o", "json", "-r"]
    assert argv[argv.index("-n") + 1] == "51"
    assert "--directory" not in argv


def test_filters_become_journalctl_options() -> None:
    argv = journalctl_argv(
        LogQuery(units=("postgresql@*.service",), level="error", since=10.5, until=20.0,
                 text="a.b (c)", cursor="s=1;i=2", limit=5),
        "/usr/bin/journalctl", "/tmp/j",
    )  # fmt: skip
    joined = " ".join(argv)
    assert "-u postgresql@*.service" in joined and "-p 3..3" in joined
    assert "--since=@10.500000" in argv and "--until=@19.999999" in argv
    # The text is searched as written: its pattern characters are escaped.
    assert argv[argv.index("--grep") + 1] == r"a\.b\ \(c\)"
    assert "--directory" in argv
    assert not any(a.startswith("--after-cursor") for a in argv)  # the reader's: a time range


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (LogQuery(level="loud"), "level"),
        (LogQuery(units=("a b",)), "service"),
    ],
)
def test_bad_fields_are_refused_by_name(query: LogQuery, field: str) -> None:
    with pytest.raises(BadQuery, match=rf"^{field}:"):
        journalctl_argv(query, "journalctl", None)


def test_services_are_aliases_or_plain_unit_names_never_globs_from_a_caller() -> None:
    aliases = {"postgresql": ["postgresql@*.service"]}
    assert resolve_service("postgresql", aliases) == ("postgresql@*.service",)
    assert resolve_service("nginx.service", aliases) == ("nginx.service",)
    with pytest.raises(BadQuery, match=r"^service:"):
        resolve_service("sovereign-*", aliases)


def test_a_cursor_that_is_not_one_is_refused_by_name() -> None:
    for bad in ("s=1; rm -rf /", "s=1;i=2"):
        with pytest.raises(BadQuery, match=r"^cursor:"):
            cursor_position(bad)


def test_a_cursors_time_is_its_t_field() -> None:
    cursor = "s=960f;i=52;b=f2f2;m=7c0031c0a;t=6615fce7d11da;x=d145"
    assert cursor_time(cursor) == pytest.approx(0x6615FCE7D11DA / 1e6)
    assert cursor_time("s=1;i=2") is None


def test_windows_cover_the_range_newest_first_without_gaps() -> None:
    windows = split_windows(100.0, 160.0, 3)
    assert windows == [(140.0, 160.0), (120.0, 140.0), (100.0, 120.0)]
    assert split_windows(100.0, 100.001, 4) == [(100.0, 100.001)]  # too short to split
    assert split_windows(0.0, 10.0, 1) == [(0.0, 10.0)]
