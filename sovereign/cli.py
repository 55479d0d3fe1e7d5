"""The operator CLI: `sovereign lab …`, `sovereign deploy`, `sovereign verify`."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from controller.errors import SovereignError
from sovereign.lab.state import DEFAULT_LAB
from sovereign.progress import Progress

LAB_OPTION = click.option(
    "--lab",
    "lab_name",
    default=lambda: os.environ.get("SOVEREIGN_LAB", DEFAULT_LAB),
    show_default="lab, or $SOVEREIGN_LAB",
    help="Which lab (several can run side by side).",
)


@click.group()
@click.version_option(package_name="sovereign-appliance")
def cli() -> None:
    """Provision and verify Sovereign Appliance hosts."""


@cli.group()
def lab() -> None:
    """Disposable lab hosts (Debian bookworm under systemd-nspawn)."""


@lab.command("up")
@LAB_OPTION
@click.option("--hosts", "count", default=1, show_default=True, type=click.IntRange(1, 20))
@click.option(
    "--disks",
    default=6,
    show_default=True,
    type=click.IntRange(0, 26),
    help="Sparse disk files per host, for ZFS.",
)
@click.option("--disk-size", default="1G", show_default=True, help="Size of each disk file.")
def lab_up_cmd(lab_name: str, count: int, disks: int, disk_size: str) -> None:
    """Build (once) and boot the lab hosts; a running lab is left as it is."""
    from sovereign.lab.manager import lab_up

    progress = Progress("lab")
    result = lab_up(lab_name, count, disks, disk_size, progress)
    for host in result.state.hosts.values():
        progress.say(f"{host.name}: {host.address} ready")
    verb = "up" if result.booted else "already up, nothing changed"
    progress.say(
        f"lab {lab_name} {verb} in {progress.elapsed():.1f} s "
        f"(ssh: `sovereign lab ssh {next(iter(result.state.hosts))}`)"
    )


@lab.command("down")
@LAB_OPTION
def lab_down_cmd(lab_name: str) -> None:
    """Stop the lab's hosts and remove them, their disks and the lab network."""
    from sovereign.lab.manager import lab_down

    lab_down(lab_name, Progress("lab"))


@lab.command("destroy")
@LAB_OPTION
@click.argument("host")
def lab_destroy_cmd(lab_name: str, host: str) -> None:
    """Destroy one host (container, root file system, disks), as a disaster would; the rest
    of the lab stays. `sovereign lab up --hosts N` creates it again, empty."""
    from sovereign.lab.manager import lab_destroy_host

    lab_destroy_host(lab_name, host, Progress("lab"))


@lab.command("status")
@LAB_OPTION
def lab_status_cmd(lab_name: str) -> None:
    """List the lab's hosts, addresses and whether they run."""
    from sovereign.lab.manager import lab_status

    state, statuses = lab_status(lab_name)
    if state is None:
        click.echo(f"lab {lab_name}: not up")
        return
    click.echo(f"lab {lab_name}: subnet {state.subnet}, bridge {state.bridge}")
    for s in statuses:
        click.echo(f"  {s.name:<12} {s.address:<15} {s.state}")


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@LAB_OPTION
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def lab_ssh_cmd(lab_name: str, host: str, command: tuple[str, ...]) -> NoReturn:
    """Open a shell (or run COMMAND) on a lab host."""
    from sovereign.lab.manager import lab_ssh_argv

    argv = lab_ssh_argv(lab_name, host, list(command))
    os.execvp(argv[0], argv)  # noqa: S606 - hand the terminal to ssh


@cli.command("deploy")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--dry",
    is_flag=True,
    help="Show, per host, each operation that would change and its commands; change nothing.",
)
@click.option("--limit", help="Only these hosts or groups (pyinfra --limit).")
def deploy_cmd(inventory: str, dry: bool, limit: str | None) -> None:
    """Run the appliance deploy (deploy/site.py) against INVENTORY."""
    from sovereign.plan import summary
    from sovereign.runner import run_deploy

    result = run_deploy(inventory, dry=dry, limit=limit)
    if dry and result.returncode == 0:
        if not result.plan:
            raise SovereignError("the dry run printed no plan for any host (see above)")
        click.echo(summary(result.plan))
    sys.exit(result.returncode)


@cli.command("check")
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
def check_cmd(inventory: str) -> None:
    """Validate INVENTORY's settings and needed artifacts without connecting to any host."""
    from sovereign.inventory import load_inventory
    from sovereign.preflight import preflight

    hosts = load_inventory(inventory)
    preflight(hosts)
    click.echo(f"{inventory}: {len(hosts)} host(s), settings valid, artifacts verified")


@cli.command("verify", context_settings={"ignore_unknown_options": True})
@click.argument("inventory", type=click.Path(exists=True, dir_okay=False))
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify_cmd(inventory: str, pytest_args: tuple[str, ...]) -> None:
    """Check the provisioned state of INVENTORY's hosts (testinfra suite in tests/infra)."""
    from sovereign.runner import run_verify

    sys.exit(run_verify(inventory, list(pytest_args)))


@cli.group()
def artifacts() -> None:
    """The local artifact cache that roles install from (air-gapped installs)."""


ARTIFACT_DIR = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Cache directory [default: ./artifacts, or $SOVEREIGN_ARTIFACTS].",
)


@artifacts.command("fetch")
@ARTIFACT_DIR
@click.argument("names", nargs=-1)
def artifacts_fetch_cmd(directory: str | None, names: tuple[str, ...]) -> None:
    """Gather the artifacts (all, or NAMES) with their checksums into the cache."""
    from pathlib import Path

    from controller import artifacts as cache

    target = Path(directory) if directory else cache.default_dir()
    progress = Progress("artifacts")
    cache.fetch(target, list(names) or None, say=progress.say)
    progress.say(f"cache {target} complete in {progress.elapsed():.1f} s")


@artifacts.command("verify")
@ARTIFACT_DIR
def artifacts_verify_cmd(directory: str | None) -> None:
    """Check every artifact in the cache against its recorded checksum."""
    from pathlib import Path

    from controller import artifacts as cache

    target = Path(directory) if directory else cache.default_dir()
    manifest = cache.read_manifest(target)
    if not manifest:
        raise SovereignError(f"no artifact cache at {target}: run `sovereign artifacts fetch`")
    for name, entry in sorted(manifest.items()):
        cache.verify(target, name)
        click.echo(f"{name:<8} {entry['version']!s:<10} ok  {entry['sha256']}")


@cli.group()
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


@cli.group()
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


def _register() -> None:
    from sovereign.cli_backup import backup
    from sovereign.cli_rebuild import rebuild
    from sovereign.cli_sync import sync

    cli.add_command(backup)
    cli.add_command(rebuild)
    cli.add_command(sync)


_register()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except SovereignError as exc:
        click.echo(f"sovereign: error: {exc}", err=True)
        sys.exit(1)
