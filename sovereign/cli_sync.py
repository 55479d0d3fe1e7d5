"""`sovereign sync restore`: rebuild a folder from a Sovereign Sync remote with the operator's
age identity alone (no appliance, no agent database: the remote's encrypted manifest says what
each object is). The format and the client are the agent's own (appliance.sync: pure format
code and the Nextcloud client, no database), so both sides read what one side writes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

PATH = click.Path(exists=True, dir_okay=False, path_type=Path)


def read_identities(path: Path) -> list[str]:
    """The X25519 identities of an age identity file (age-keygen's format: comments allowed)."""
    found = [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip().startswith("AGE-SECRET-KEY-")
    ]
    if not found:
        raise click.BadParameter(f"{path}: no AGE-SECRET-KEY-1… line", param_hint="--identity")
    return found


@click.group()
def sync() -> None:
    """Sovereign Sync: documents the appliance encrypted to a Nextcloud."""


@sync.command("restore")
@click.option("--remote", "url", required=True, help="The Nextcloud's base URL (https://HOST).")
@click.option("--user", required=True, help="The Nextcloud user the documents are stored as.")
@click.option(
    "--password-file",
    required=True,
    type=PATH,
    help="File holding that user's app password (never on the command line).",
)
@click.option("--identity", required=True, type=PATH, help="The operator's age identity file.")
@click.option(
    "--to",
    "target",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to rebuild the documents under (each at its synced path).",
)
@click.option(
    "--root",
    default="sovereign-sync",
    show_default=True,
    help="The remote folder the appliance syncs to ([sync] remote_root).",
)
@click.option("--ca-bundle", type=PATH, help="CA file to trust for the server.")
def restore_cmd(
    url: str, user: str, password_file: Path, identity: Path, target: Path, root: str,
    ca_bundle: Path | None,
) -> None:  # fmt: skip
    """Download, decrypt and sha256-check every document's newest version into --to."""
    from appliance.sync.crypto import SyncCryptoError
    from appliance.sync.remote import Remote, RemoteError
    from appliance.sync.restore import RestoreError, restore_all

    password = password_file.read_text().strip()
    remote = Remote(url, user, password, timeout_s=120,
                    verify=str(ca_bundle) if ca_bundle else True)  # fmt: skip
    try:
        done = restore_all(remote, root.strip("/"), read_identities(identity), target)
    except (RemoteError, RestoreError, SyncCryptoError) as exc:
        click.echo(f"sovereign: sync restore failed: {exc}", err=True)
        sys.exit(1)
    finally:
        remote.close()
    for item in done:
        click.echo(f"restored {item.path} → {item.target} ({item.size} bytes, sha256 ok)")
    click.echo(f"{len(done)} documents restored under {target}")
    sys.exit(0 if done else 1)
