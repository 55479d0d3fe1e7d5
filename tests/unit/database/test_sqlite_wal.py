"""An agent opening the SQLite file while another holds it (agents starting together on a new
database) waits to put it in WAL mode instead of failing with "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from appliance.database.engine import sqlite_engine


def held(path: Path, seconds: float) -> threading.Thread:
    """The file read by another client (rollback journal, as a new file is) for a while: a
    shared lock, for which SQLite's switch to WAL does not wait."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE IF NOT EXISTS t (x)")
    other.execute("BEGIN")
    other.execute("SELECT * FROM t").fetchall()

    def release() -> None:
        threading.Event().wait(seconds)
        other.execute("ROLLBACK")
        other.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


def open_together(path: Path, agents: int = 4) -> list[Exception]:
    """``agents`` engines connecting to the new file ``path`` at once; what they raised."""
    engines = [sqlite_engine(path) for _ in range(agents)]
    start = threading.Barrier(agents)
    errors: list[Exception] = []

    def connect(engine: Engine) -> None:
        start.wait()
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS t (x)")
                connection.commit()
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=connect, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for engine in engines:
        engine.dispose()
    return errors


def test_agents_opening_a_new_file_together_all_connect(tmp_path: Path) -> None:
    # A race: before the retry about 1 round in 30 failed, so 300 rounds (~4 s) catch it all
    # but always.
    for round_ in range(300):
        path = tmp_path / f"{round_}.db"
        assert open_together(path) == [], f"round {round_}"
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    releaser = held(path, 3.0)
    engine = sqlite_engine(path, busy_timeout_s=0.5)
    with pytest.raises(OperationalError, match="locked"):
        engine.connect()
    releaser.join()
    engine.dispose()
