"""The schema the hand-rolled store (appliance/store.py, before Alembic) created, verbatim:
what a deployed host's database looks like, with no alembic_version table."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg

from tests.unit.conftest import AgentDatabase

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS metric_samples (
        name TEXT NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        value DOUBLE PRECISION NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS metric_samples_name_ts ON metric_samples (name, ts)",
    """CREATE TABLE IF NOT EXISTS agent_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    )""",
)

SAMPLES = [("cpu_percent", 100.0 + i, float(i)) for i in range(50)] + [
    ("memory_percent", 100.0, 42.5)
]
STATE = [("last_boot", "2024-05-01", 99.0)]


def create(database: AgentDatabase, statements: tuple[str, ...] = SCHEMA) -> None:
    """The old store's schema and some rows, written as the old store wrote them (sqlite3 in
    WAL mode, or psycopg as the agent's role)."""
    insert_sample = "INSERT INTO metric_samples (name, ts, value) VALUES (?, ?, ?)"
    insert_state = "INSERT INTO agent_state (key, value, updated_at) VALUES (?, ?, ?)"
    connection: Any
    if database.dialect == "sqlite":
        Path(database.location).parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(database.location)
        connection.execute("PRAGMA journal_mode=WAL")
    else:
        connection = psycopg.connect(database.location, password=database.password)
        insert_sample, insert_state = (s.replace("?", "%s") for s in (insert_sample, insert_state))
    try:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
        if statements == SCHEMA:
            cursor.executemany(insert_sample, SAMPLES)
            cursor.executemany(insert_state, STATE)
        connection.commit()
    finally:
        connection.close()
