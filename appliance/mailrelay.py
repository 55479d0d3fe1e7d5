"""postfix's SASL password map for the relay, written ON THE HOST from the agent's secret:
``python -m appliance.mailrelay --relayhost H --user U --secret agent/mail/relay``.

Run as root by sovereign-mail-sasl.service (roles/mail: at deploy and every 15 minutes) with
the agent's Python: it reads ``relay_secret``'s ``password`` field through the
agent's own secrets backend (agent.toml's ``[secrets]``: its Vault AppRole on loopback), so the
password never passes through the deploy, its output or the inventory. The map is written only
when it changed, root 0600 (its ``.db`` too), then ``postmap`` and ``postfix reload``.

A secret not put yet is not an error of the unit: the relay is not logged in to, so the
relayhost refuses the mail, and postfix keeps it queued (deferred) until the password arrives.
Nothing it prints holds the password.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

MAP = Path("/etc/postfix/sasl_passwd")


def sasl_map(relayhost: str, user: str, password: str) -> str:
    """The map's one line: ``relayhost user:password`` (the key is main.cf's relayhost as
    written, which is how postfix looks it up)."""
    if not password or any(c in password for c in "\r\n\0"):
        raise ValueError("the relay password is empty or holds a line break")
    if password != password.strip():
        raise ValueError("the relay password starts or ends with a blank (postfix drops it)")
    return f"{relayhost} {user}:{password}\n"


def write_private(path: Path, text: str) -> bool:
    """``text`` into ``path`` (root, 0600, replaced atomically) when it differs; whether it did."""
    try:
        if path.read_text() == text and (path.stat().st_mode & 0o777) == 0o600:
            return False
    except FileNotFoundError:
        pass
    new = path.with_name(path.name + ".new")
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    new.replace(path)
    return True


Run = Callable[[Sequence[str]], None]


def _run(argv: Sequence[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def refresh(
    fields: Mapping[str, str] | None,
    relayhost: str,
    user: str,
    path: Path = MAP,
    run: Run = _run,
) -> str:
    """Bring the map in line with the secret's ``fields`` (None: not put yet); what it did."""
    if fields is None:
        return "no relay secret yet: the relay is not logged in to (its mail waits, deferred)"
    line = sasl_map(relayhost, user, fields.get("password", ""))
    db = path.with_name(path.name + ".db")
    if not write_private(path, line) and db.exists():
        return f"{path} unchanged"
    run(["postmap", f"hash:{path}"])
    db.chmod(0o600)
    run(["postfix", "reload"])
    return f"{path} written for {user} at {relayhost}; postfix reloaded"


def read_secret(name: str) -> dict[str, str] | None:
    """The secret's fields through the agent's configured backend (None: it does not exist)."""
    from appliance.config import load_settings
    from appliance.secrets import build_secret_manager
    from appliance.secrets.errors import SecretNotFound

    manager = build_secret_manager(load_settings().secrets)
    try:
        return {k: v.get_secret_value() for k, v in manager.get_all(name).items()}
    except SecretNotFound:
        return None


def main(
    argv: Sequence[str] | None = None,
    read: Callable[[str], Mapping[str, str] | None] = read_secret,
    path: Path = MAP,
    run: Run = _run,
) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--relayhost", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args(argv)
    try:
        said = refresh(read(args.secret), args.relayhost, args.user, path, run)
    except ValueError as exc:  # never the password: the messages above name no value
        print(f"sovereign-mail-sasl: {args.secret}: {exc}", file=sys.stderr)
        return 1
    print(f"sovereign-mail-sasl: {said}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
