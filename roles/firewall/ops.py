"""Operations of the firewall role."""

from __future__ import annotations

import hashlib
from collections.abc import Generator
from io import BytesIO
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FileUploadCommand, OperationError, QuoteString, StringCommand, operation

from roles.firewall.facts import FirewallState
from roles.firewall.plan import TABLE, Rule, admits_session


@operation()
def ruleset(
    path: str, text: str, digest: str, rules: list[dict[str, Any]]
) -> Generator[StringCommand | FileUploadCommand, None, None]:
    """
    Load the host's nftables ruleset: checked with `nft -c` before it replaces the file, then
    applied with `nft -f` as one transaction (the table is replaced whole, never flushed
    rule by rule). Refused, with nothing changed, when it would not admit new SSH
    connections like the deploy's own session.

    + path: the ruleset file on the host (loaded at boot by sovereign-firewall.service)
    + text: its content (firewall.nft.j2 rendered)
    + digest: the digest in the table's comment, which the live table must carry
    + rules: the openings (port, protocol, sources, comment), to check the session against

    One fact, FirewallState: the file's sha256, the live table's digest, the SSH session.
    """
    state = host.get_fact(FirewallState, path=path, table=TABLE)
    want_file = hashlib.sha256(text.encode()).hexdigest()
    if state["file"] == want_file and state["live"] == digest:
        host.noop(f"nftables table inet {TABLE} is loaded from {path} ({digest})")
        return
    session = state["session"]
    if session is None:
        logger.warning(
            f"[{host.name}] firewall: the SSH session's address is unknown "
            "(no $SSH_CONNECTION): cannot check the new ruleset admits this controller"
        )
    else:
        client, port = session
        found = [Rule(r["port"], r["protocol"], tuple(r["sources"]), r["comment"]) for r in rules]
        if not admits_session(found, client, port):
            raise OperationError(
                f"firewall: this deploy's SSH session comes from {client} to port {port}, which "
                "the new ruleset would not admit: the next connection from this controller "
                f"would be dropped. Add {client} (or its network) to firewall.admin_networks "
                "(or fix ssh_port); nothing was changed"
            )
    q = QuoteString(path)
    new = QuoteString(f"{path}.new")
    if state["file"] != want_file:
        yield StringCommand("rm", "-f", new, "&&", "(umask 077 &&", ":", ">", new, ")")
        yield FileUploadCommand(BytesIO(text.encode()), f"{path}.new")
        yield StringCommand(
            "nft", "-c", "-f", new, "&&", "chmod", "600", new, "&&", "mv", "-f", new, q,
            "&&", "nft", "-f", q,
        )  # fmt: skip
        return
    yield StringCommand("nft", "-c", "-f", q, "&&", "nft", "-f", q)
