"""The pgbackrest role's settings and pure decisions: the archive settings the postgres role
renders, pgbackrest.conf, what the stanza needs, and bad input named by its field."""

from __future__ import annotations

import pytest

from roles.pgbackrest.plan import (
    LOCK_DIR,
    archive_settings,
    config_text,
    stanza_actions,
    write_paths,
)
from roles.pgbackrest.settings import PgBackrestSettings
from roles.postgres.settings import PostgresSettings
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec

HOST = {"lab_disks": ["/d/1", "/d/2", "/d/3", "/d/4"], "zfs_backend": "zfs-fuse"}


def test_defaults_archive_every_minute_into_tank_backups() -> None:
    cfg = parse_host_spec("h", HOST).pgbackrest
    assert archive_settings(cfg) == {
        "archive_mode": "on",
        "archive_command": "'pgbackrest --stanza=main archive-push %p'",
        "archive_timeout": "60s",
    }
    assert write_paths(cfg) == ["/tank/backups/pgbackrest", LOCK_DIR]
    text = config_text(cfg, PostgresSettings.model_validate({}))
    assert "repo1-path=/tank/backups/pgbackrest\n" in text
    assert "[main]\npg1-path=/tank/postgres/15/main\npg1-port=5432\n" in text
    assert "repo1-retention-full=2\n" in text and "log-level-file=off\n" in text


def test_disabled_turns_archiving_off() -> None:
    cfg = PgBackrestSettings(enabled=False)
    assert archive_settings(cfg) == {} and write_paths(cfg) == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"archive_timeout": 600}, "pgbackrest.archive_timeout"),
        ({"repo_path": "relative"}, "pgbackrest.repo_path"),
        ({"incr_schedule": "hourly\nExecStart=/bin/sh"}, "pgbackrest.incr_schedule"),
        ({"restore_check_port": 5432}, "pgbackrest.restore_check_port"),
        ({"retention": 3}, "pgbackrest.retention"),
    ],
)
def test_bad_settings_are_named(data: dict[str, object], field: str) -> None:
    with pytest.raises(RoleSettingsError, match=field.replace(".", r"\.")):
        parse_host_spec("h", {**HOST, "pgbackrest": data})


def test_stanza_actions_without_pgbackrest() -> None:
    assert stanza_actions(None) == ["stanza-create", "backup"]
