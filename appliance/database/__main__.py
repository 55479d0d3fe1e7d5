"""The agent database's migrations by hand: ``python -m appliance.database COMMAND``.

::

    python -m appliance.database current            # revision(s) the database is at
    python -m appliance.database upgrade [head]     # what the agent does at start
    python -m appliance.database downgrade -1       # one step back ("base" drops the tables)
    python -m appliance.database history            # the revisions this code ships
    python -m appliance.database revision -m "add tokens" --autogenerate   # developers

The database is the agent's (``/etc/sovereign/agent.toml`` or ``APPLIANCE_CONFIG_FILE``, the
password through the agent's secrets backend), or ``--url`` (``sqlite:///path/agent.db``,
``postgresql://user@host:5432/db``; libpq reads a password from ``PGPASSWORD`` or
``~/.pgpass``). The same lock as at agent start: never two migrators at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sqlalchemy import Engine

from appliance.database import migrate
from appliance.database.errors import StoreError


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "history":
            return _history()
        if args.command == "revision":
            return _revision(args.message, args.autogenerate)
        engine = _engine(args.url)
        try:
            if args.command == "current":
                print(", ".join(migrate.current(engine)) or "none (empty or pre-Alembic)")
            elif args.command == "upgrade":
                migrate.upgrade(engine, args.target)
            else:
                migrate.downgrade(engine, args.target)
        finally:
            engine.dispose()
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.database", description="The agent database's migrations."
    )
    parser.add_argument("--url", help="a database other than the agent's configured one")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("current", help="the revision(s) the database is at")
    upgrade = commands.add_parser("upgrade", help="migrate up (default: to head)")
    upgrade.add_argument("target", nargs="?", default="head")
    downgrade = commands.add_parser("downgrade", help="migrate down: -1, a revision, or base")
    downgrade.add_argument("target")
    commands.add_parser("history", help="the revisions this code ships, newest first")
    revision = commands.add_parser("revision", help="write a new revision script")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument(
        "--autogenerate", action="store_true", help="diff schema.py against the head schema"
    )
    return parser


def _engine(url: str | None) -> Engine:
    from appliance.database.engine import postgres_engine, sqlite_engine

    if url is not None:
        if url.startswith("sqlite:///"):
            return sqlite_engine(url.removeprefix("sqlite:///") or ":memory:")
        from appliance.database.settings import check_database_url

        checked = check_database_url(url)
        if checked is None:
            raise StoreError("--url is empty")
        return postgres_engine(checked)
    from appliance.config import load_settings
    from appliance.database.connect import SecretPassword
    from appliance.secrets import build_secret_manager

    settings = load_settings().database
    if settings.url is None:
        return sqlite_engine(settings.sqlite_path)
    password = None
    if settings.password_secret is not None:
        secrets = build_secret_manager(load_settings().secrets)
        password = SecretPassword(secrets, settings.password_secret)
    return postgres_engine(settings.url, password, connect_timeout_s=settings.connect_timeout_s)


def _history() -> int:
    from alembic.script import ScriptDirectory

    for script in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions():
        print(f"{script.revision}  {script.doc.splitlines()[0] if script.doc else ''}")
    return 0


def _revision(message: str, autogenerate: bool) -> int:
    """Numbered revisions (0003, 0004…), so files sort in the order they apply."""
    from alembic import command

    from appliance.database.engine import sqlite_engine

    known, _ = migrate.code_revisions()
    next_id = f"{max(int(rev) for rev in known) + 1:04d}"
    engine = sqlite_engine(":memory:")  # the head schema, to diff schema.py against
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            config = migrate.alembic_config(connection)
            config.set_main_option("file_template", "r%%(rev)s_%%(slug)s")
            # Written in the project's style, so ruff passes without a hand edit.
            config.set_section_option("post_write_hooks", "hooks", "ruff")
            config.set_section_option("post_write_hooks", "ruff.type", "module")
            config.set_section_option("post_write_hooks", "ruff.module", "ruff")
            config.set_section_option(
                "post_write_hooks", "ruff.options", "format REVISION_SCRIPT_FILENAME"
            )
            command.revision(config, message, autogenerate=autogenerate, rev_id=next_id)
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
