"""Bench: cost of the ZfsStorage fact — parse time, and the remote commands really run for it.

    .venv/bin/python bench/zfs_facts.py [N]                          # parse only, no host
    .venv/bin/python bench/zfs_facts.py --inventory inventory/lab.py # + reads on its hosts
    .venv/bin/python bench/zfs_facts.py --inventory inventory/lab.py --execute

Parse: builds `state_command()` output for a raidz2 pool with N datasets (default 250) from
the captured zfs-fuse fixture's shape and times the pure parse the fact runs.

With --inventory, on every host of the inventory (nothing is changed):
- reads the fact --reads times through pyinfra's own connector, counting the commands that
  connector ran for each read and timing each read;
- runs --deploy (default deploy/storage.py: base + zfs roles) through `pyinfra -vv` and counts,
  from pyinfra's own echo of every command, the remote commands, the fact reads among them
  and how many of those read ZfsStorage. By default that run only plans (`--dry`: facts are
  read, nothing executes); --execute runs it for real with `--yes`, as `sovereign deploy`
  does (a no-op on a converged host: the bench says which operations changed, if any).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pyinfra_cli  # noqa: F401 - first: it patches sockets for gevent, as pyinfra's CLI does
from benchlib import ROOT, count_remote_commands, print_header, pyinfra_env

from appliance.zfs import commands
from appliance.zfs.state import parse_state, split_sections, state_to_dict
from controller.paths import pyinfra_bin
from sovereign.runner import parse_pyinfra_output

FIXTURE = ROOT / "tests/unit/zfs/fixtures/zfs-fuse/state-lab-default.txt"
FACT = "roles.zfs.facts.ZfsStorage"


def synthetic(n: int) -> str:
    sections = split_sections(FIXTURE.read_text())
    rows = [sections[commands.SECTION_PROPERTIES]]
    for i in range(n):
        name = f"tank/ds{i:04d}"
        rows += [f"{name}\t{prop}\t0" for prop in commands.DATASET_PROPERTIES]
    out = []
    for section in (commands.SECTION_STATUS, commands.SECTION_PROPERTIES,
                    commands.SECTION_ZPOOL_USAGE, commands.SECTION_ZFS_USAGE):  # fmt: skip
        out.append(f"{commands.MARKER} {section}")
        body = "\n".join(rows) if section == commands.SECTION_PROPERTIES else sections[section]
        out.append(body)
    out.append(f"{commands.MARKER} {commands.SECTION_END}")
    return "\n".join(out)


def bench_parse(n: int, runs: int = 20) -> None:
    text = synthetic(n)
    took: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        state = state_to_dict(parse_state(text))
        took.append(time.perf_counter() - start)
    print(
        f"parse (synthetic): {len(state['datasets'])} datasets, "
        f"{len(text.splitlines())} lines / {len(text)} bytes of output, "
        f"median {statistics.median(took) * 1000:.2f} ms per parse over {runs} runs"
    )


class CountingRun:
    """Stands in for a host's `run_shell_command`: counts every command it is handed."""

    def __init__(self, run: Callable[..., Any]) -> None:
        self.run = run
        self.count = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return self.run(*args, **kwargs)


def bench_reads(inventory: str, reads: int) -> None:
    """Read the fact on every host through pyinfra's connector: commands and time per read."""
    from pyinfra.api import Config, State
    from pyinfra.api.connect import connect_all
    from pyinfra.api.state import StateStage
    from pyinfra.context import ctx_config, ctx_inventory, ctx_state
    from pyinfra_cli.inventory import make_inventory  # (pyinfra_cli imported at the top)

    from roles.zfs.facts import ZfsStorage

    # The order pyinfra's CLI sets these up in (inventory files run inside a state context).
    state = State()
    ctx_state.set(state)  # type: ignore[no-untyped-call]
    config = Config()  # type: ignore[no-untyped-call]
    ctx_config.set(config)  # type: ignore[no-untyped-call]
    inv = make_inventory(inventory, cwd=str(ROOT))
    ctx_inventory.set(inv)  # type: ignore[no-untyped-call]
    state.init(inv, config)
    state.set_stage(StateStage.Connect)
    connect_all(state)
    state.set_stage(StateStage.Prepare)
    for host in inv.get_active_hosts():
        counter = CountingRun(host.run_shell_command)
        setattr(host, "run_shell_command", counter)  # noqa: B010 - instance patch, counted
        per_read: list[int] = []
        took: list[float] = []
        data: dict[str, Any] | None = None
        for _ in range(reads):
            before = counter.count
            start = time.perf_counter()
            data = host.get_fact(ZfsStorage)
            took.append(time.perf_counter() - start)
            per_read.append(counter.count - before)
        datasets = len((data or {}).get("datasets", {}))
        counts = sorted(set(per_read))
        print(
            f"[{host.name}] ZfsStorage read: {' or '.join(map(str, counts))} remote command(s) "
            f"per read ({sum(per_read)} in {reads} reads, counted at pyinfra's connector); "
            f"median {statistics.median(took) * 1000:.1f} ms, min {min(took) * 1000:.1f}, "
            f"max {max(took) * 1000:.1f} ms per read; {datasets} datasets"
        )
        host.disconnect()


def bench_deploy(inventory: str, deploy: str, execute: bool) -> None:
    """Run a deploy through `pyinfra -vv` and count what it ran, per host."""
    argv = [pyinfra_bin(), inventory, deploy, "-vv"]
    argv += ["--yes"] if execute else ["--dry"]
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=ROOT, env=pyinfra_env(), capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(output[-3000:])
        raise SystemExit(f"pyinfra exited {proc.returncode}: {' '.join(argv)}")
    counted = count_remote_commands(output)
    mode = "ran (--yes)" if execute else "planned (--dry: facts read, nothing executed)"
    print(f"{deploy} {mode} in {took:.1f} s: {' '.join(argv[1:])}")
    for host in sorted(counted.commands):
        print(
            f"[{host}] {counted.commands[host]} remote commands: "
            f"{counted.fact_reads(host)} fact reads ({counted.fact_reads(host, FACT)} of them "
            f"ZfsStorage), {counted.other(host)} other"
        )
        repeated = counted.repeated(host)
        if repeated:
            print(f"[{host}] facts read more than once with the same arguments:")
            for fact, n in repeated:
                print(f"    {n}x {fact[:110]}")
    if execute:
        changed = [(h, op) for h, op, word in parse_pyinfra_output(output) if word != "No changes"]
        for host, op in changed:
            print(f"[{host}] NOT a no-op: {op!r} changed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="?", type=int, default=250, help="synthetic datasets")
    parser.add_argument("--inventory", help="also read the fact on these hosts")
    parser.add_argument("--reads", type=int, default=10, help="fact reads per host")
    parser.add_argument("--deploy", default="deploy/storage.py", help="deploy file to count")
    parser.add_argument(
        "--execute", action="store_true", help="run --deploy for real (--yes), not --dry"
    )
    args = parser.parse_args()
    print_header()
    bench_parse(args.datasets)
    if args.inventory:
        bench_reads(args.inventory, args.reads)
        bench_deploy(args.inventory, args.deploy, args.execute)


if __name__ == "__main__":
    main()
