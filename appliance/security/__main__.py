"""The agent's tokens and audit log by hand, on the host: ``python -m appliance.security …``.

::

    python -m appliance.security token create --name NAME --role viewer|operator|admin|scrape
                                              [--expires-in DAYS]
    python -m appliance.security token list [--all] [--json]
    python -m appliance.security token revoke NAME|ID
    python -m appliance.security audit verify
    python -m appliance.security audit prune          # apply audit_retention_days now

On an appliance: ``APPLIANCE_CONFIG_FILE=/etc/sovereign/agent.toml
/opt/sovereign/agent/bin/python -m appliance.security …`` as root or the agent's user
(``sovereign``): the database is the agent's own, its password read through the agent's
secrets backend (Vault, with the agent's AppRole files, readable by group sovereign). Run as
root on an SQLite store, the command becomes the owner of the store's directory first, so
files it creates stay the agent's.

``token create`` prints the token on stdout and nothing else (the rest goes to stderr): it is
shown this once and stored only as a hash. Every create and revoke is in the audit log, as
``cli:USER`` from ``ssh:ADDRESS`` (or ``local``). ``audit verify`` exits 1 naming the first row
that does not hold, and prints the chain's head hash otherwise (keep it: an older head must
stay in the chain). Exit 2: bad usage or settings; 1: the operation failed.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from appliance.database.errors import StoreError
from appliance.database.repository import Store
from appliance.security.audit import AuditEvent, AuditLog
from appliance.security.roles import Role
from appliance.security.tokens import TokenError, TokenInfo, TokenService


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        store, retention_days = _open_store()
    except (ValueError, StoreError) as exc:  # ConfigError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        store.prepare()
        if args.group == "token":
            return _token(args, store)
        return _audit(args, store, retention_days)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.security",
        description="The agent's API tokens and audit log, on the host.",
    )
    groups = parser.add_subparsers(dest="group", required=True)
    token = groups.add_parser("token", help="API tokens").add_subparsers(
        dest="command", required=True
    )
    create = token.add_parser("create", help="make a token; it is printed once, on stdout")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--expires-in", type=float, metavar="DAYS", help="default: never")
    listing = token.add_parser("list", help="tokens, without secrets")
    listing.add_argument("--all", action="store_true", help="revoked ones too")
    listing.add_argument("--json", action="store_true")
    revoke = token.add_parser("revoke", help="revoke an active token")
    revoke.add_argument("ref", metavar="NAME|ID")
    audit = groups.add_parser("audit", help="the audit log").add_subparsers(
        dest="command", required=True
    )
    audit.add_parser("verify", help="check the hash chain; exit 1 at the first bad row")
    audit.add_parser("prune", help="drop rows older than audit_retention_days now")
    return parser


def _open_store() -> tuple[Store, int]:
    from appliance.config import load_settings
    from appliance.database.connect import open_store
    from appliance.secrets import build_secret_manager

    settings = load_settings()
    database = settings.database
    if database.url is None:
        _become_store_owner(database.sqlite_path)
    secrets = build_secret_manager(settings.secrets) if database.password_secret else None
    return open_store(database, secrets), settings.security.audit_retention_days


def _become_store_owner(path: Path) -> None:
    """As root, take the uid/gid of the SQLite store's directory (the agent's)."""
    if os.geteuid() != 0 or str(path) == ":memory:":
        return
    directory = Path(path).parent
    if not directory.is_dir():
        return
    owner = directory.stat()
    if owner.st_uid == 0:
        return
    os.setgroups([])
    os.setgid(owner.st_gid)
    os.setuid(owner.st_uid)


def actor() -> str:
    return f"cli:{os.environ.get('SUDO_USER') or getpass.getuser()}"


def source() -> str:
    ssh = os.environ.get("SSH_CLIENT", "").split()
    return f"ssh:{ssh[0]}" if ssh else "local"


def _token(args: argparse.Namespace, store: Store) -> int:
    tokens = TokenService(store)
    audit = AuditLog(store)
    if args.command == "list":
        return _list(tokens.list(include_revoked=args.all), args.json)
    if args.command == "create":
        event = AuditEvent(actor(), "token.create", args.name, source(), detail={"role": args.role})
        try:
            expires = None if args.expires_in is None else args.expires_in * 86_400.0
            new = tokens.create(
                args.name, Role(args.role), created_by=actor(), expires_in_s=expires
            )
        except (TokenError, ValueError) as exc:
            audit.append(_failed(event, exc))
            print(f"error: {exc}", file=sys.stderr)
            return 1
        audit.append(event)
        info = new.info
        print(
            f"created token {info.name} ({info.id}, role {info.role.value}, "
            f"expires {_when(info.expires_at) or 'never'}): shown once, stored only as a hash",
            file=sys.stderr,
        )
        print(new.secret)
        return 0
    event = AuditEvent(actor(), "token.revoke", args.ref, source())
    try:
        revoked = tokens.revoke(args.ref)
    except TokenError as exc:
        audit.append(_failed(event, exc))
        raise
    audit.append(event)
    print(
        f"revoked token {revoked.name} ({revoked.id}); the agent refuses it within its "
        "token_cache_ttl_s"
    )
    return 0


def _failed(event: AuditEvent, exc: Exception) -> AuditEvent:
    return AuditEvent(
        event.actor,
        event.action,
        event.target,
        event.source,
        "failure",
        detail={**event.detail, "reason": str(exc)},
    )


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _list(found: list[TokenInfo], as_json: bool) -> int:
    now = time.time()
    if as_json:
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role.value,
                "state": t.state(now),
                "created_at": t.created_at,
                "created_by": t.created_by,
                "last_used_at": t.last_used_at,
                "expires_at": t.expires_at,
                "revoked_at": t.revoked_at,
            }
            for t in found
        ]
        print(json.dumps(rows, indent=2))
        return 0
    head = ("ID", "NAME", "ROLE", "STATE", "CREATED", "LAST USED")
    print(
        f"{head[0]:<16} {head[1]:<24} {head[2]:<9} {head[3]:<8} {head[4]:<21} {head[5]:<21} EXPIRES"
    )
    for t in found:
        print(
            f"{t.id:<16} {t.name:<24} {t.role.value:<9} {t.state(now):<8} "
            f"{_when(t.created_at):<21} {_when(t.last_used_at) or '-':<21} "
            f"{_when(t.expires_at) or 'never'}"
        )
    return 0


def _audit(args: argparse.Namespace, store: Store, retention_days: int) -> int:
    audit = AuditLog(store)
    if args.command == "prune":
        deleted = audit.prune_older_than_days(retention_days)
        print(f"pruned {deleted} rows older than {retention_days} days")
        return 0
    verdict = audit.verify()
    if verdict.ok:
        print(f"audit log ok: {verdict.rows} rows, head {verdict.head}")
        return 0
    print(
        f"audit log BROKEN at seq {verdict.bad_seq}: {verdict.problem} "
        f"({verdict.rows} rows before it hold)",
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
