"""`sovereign agent …`: each host's agent, its API tokens and its audit log (over SSH, as
root; sovereign/agent.py does the work)."""

from __future__ import annotations

import sys

import click


@click.group()
def agent() -> None:
    """Each host's agent: API tokens and the audit log (over SSH, as root)."""


@agent.group("token")
def agent_token() -> None:
    """API tokens: created per host, shown once, stored only as a hash."""


def _say(line: str) -> None:
    click.echo(line, err=True)


AGENT_LIMIT = click.option("--limit", help="Only these hosts or groups (comma-separated).")
INVENTORY_ARG = click.argument("inventory", type=click.Path(exists=True, dir_okay=False))


@agent_token.command("create")
@INVENTORY_ARG
@AGENT_LIMIT
@click.option("--name", required=True, help="Token name (also its TOTP principal).")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["scrape", "viewer", "operator", "admin"]),
    help="scrape: /metrics only; viewer: reads; operator: day-to-day actions; admin: all.",
)
@click.option("--expires-in", type=click.FloatRange(min=0, min_open=True), help="Days.")
def agent_token_create_cmd(
    inventory: str, limit: str | None, name: str, role: str, expires_in: float | None
) -> None:
    """Make a token on each host; prints `HOST TOKEN` lines once (nothing else on stdout)."""
    from sovereign.agent import create_token, select_hosts

    hosts = select_hosts(inventory, limit)
    sys.exit(0 if create_token(hosts, name, role, expires_in, click.echo, _say) else 1)


@agent_token.command("list")
@INVENTORY_ARG
@AGENT_LIMIT
def agent_token_list_cmd(inventory: str, limit: str | None) -> None:
    """Each host's active tokens (names, roles, dates; never a secret)."""
    from sovereign.agent import relay, select_hosts

    ok = relay(select_hosts(inventory, limit), ["token", "list"], click.echo, _say)
    sys.exit(0 if ok else 1)


@agent_token.command("revoke")
@INVENTORY_ARG
@click.argument("ref", metavar="NAME|ID")
@AGENT_LIMIT
def agent_token_revoke_cmd(inventory: str, ref: str, limit: str | None) -> None:
    """Revoke a token on each host (exit 1 where there is none by that name or id)."""
    from sovereign.agent import relay, select_hosts

    ok = relay(select_hosts(inventory, limit), ["token", "revoke", ref], click.echo, _say)
    sys.exit(0 if ok else 1)


@agent.group("audit")
def agent_audit() -> None:
    """The agent's hash-chained audit log."""


@agent_audit.command("verify")
@INVENTORY_ARG
@AGENT_LIMIT
def agent_audit_verify_cmd(inventory: str, limit: str | None) -> None:
    """Check each host's audit chain; exit 1 naming the first bad row where it breaks."""
    from sovereign.agent import relay, select_hosts

    ok = relay(select_hosts(inventory, limit), ["audit", "verify"], click.echo, _say)
    sys.exit(0 if ok else 1)
