"""The operator CLI: `sovereign lab …`, `sovereign deploy`, `sovereign verify`."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

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


def _register() -> None:
    from sovereign.cli_agent import agent
    from sovereign.cli_backup import backup
    from sovereign.cli_rebuild import rebuild
    from sovereign.cli_sync import sync
    from sovereign.cli_vault import vault

    for group in (vault, agent, backup, rebuild, sync):
        cli.add_command(group)


_register()


def main() -> None:
    try:
        cli(standalone_mode=True)
    except SovereignError as exc:
        click.echo(f"sovereign: error: {exc}", err=True)
        sys.exit(1)
