"""`sovereign vault …`: each host's Vault, seal status, manual unseal and the agent's secrets
(over SSH; sovereign/vault.py does the work)."""

from __future__ import annotations

import sys
from typing import Any

import click

from controller.errors import SovereignError


@click.group()
def vault() -> None:
    """Each host's Vault: seal status, manual unseal."""


VAULT_LIMIT = click.option("--limit", help="Only these hosts (comma-separated names).")


@vault.command("status")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@VAULT_LIMIT
def vault_status_cmd(inventory: str, limit: str | None) -> None:
    """Show whether each host's Vault is initialised and unsealed (exit 2 if any is not)."""
    from sovereign.vault import status

    sys.exit(0 if status(inventory, limit, click.echo) else 2)


@vault.command("unseal")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@VAULT_LIMIT
@click.option(
    "--identity",
    type=click.Path(exists=True, dir_okay=False),
    help="Your age identity file: take the shares from the encrypted init file "
    "instead of asking for them.",
)
def vault_unseal_cmd(inventory: str, limit: str | None, identity: str | None) -> None:
    """Unseal each sealed Vault (shamir seal), asking for key shares without echoing them."""
    from pathlib import Path

    from sovereign.vault import unseal

    unseal(inventory, limit, Path(identity) if identity else None, click.echo)


@vault.command("put-secret")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.argument("name")
@VAULT_LIMIT
@click.option(
    "--from-file",
    "source",
    type=click.File("r"),
    default="-",
    help='A JSON object of string fields, e.g. {"integration_key": "…"} (default: stdin; '
    "never on the command line).",
)
@click.option(
    "--identity",
    type=click.Path(exists=True, dir_okay=False),
    help="Your age identity file: opens the break-glass AppRole credentials.",
)
def vault_put_secret_cmd(
    inventory: str, name: str, limit: str | None, source: Any, identity: str | None
) -> None:
    """Write an agent secret NAME (under agent/, e.g. a notification channel's credentials
    named by its `secret`) into each host's Vault. Prints field names, never values."""
    from pathlib import Path

    from sovereign.vault import check_agent_secret_name, parse_fields, put_secret

    check_agent_secret_name(name)
    if source.isatty():
        raise SovereignError("pipe the JSON in or use --from-file (typing it would echo it)")
    fields = parse_fields(source.read())
    put_secret(inventory, limit, name, fields, Path(identity) if identity else None, click.echo)
