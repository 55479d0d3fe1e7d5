"""Wall time of a no-op redeploy, side by side with pyinfra's own floor from the same run.

    .venv/bin/python bench/noop_deploy.py                        # inventory/lab.py, 5 runs each
    .venv/bin/python bench/noop_deploy.py inventory/mine.py -n 9

A: `sovereign deploy INVENTORY`, the operator's command (settings and artifact checks, then
   pyinfra with deploy/site.py); every run must report "No changes" for every operation on
   every host (parsed with `sovereign.runner.parse_pyinfra_output`), else the bench stops.
B: pyinfra's floor: `pyinfra INVENTORY exec -- true` — the same hosts, connections and
   inventory, one command each.
A and B alternate (A1 B1 A2 B2 …); min/median/max of each, the ratio of the medians, and
whether the median of A meets the target (<= 5 s; hosts are deployed in parallel, so the
wall time is what a host costs). Once, for where A's time goes: `sovereign check INVENTORY`
(the settings and artifact checks A runs before pyinfra, no connection).

Before the timed runs, one warm-up run (not timed) counts what a no-op deploy runs: pyinfra
with the same deploy file and `-vv`, whose echo of every remote command (facts and
operations alike) is counted per host. B runs with `-vv` too, and is counted the same way.

Before anything runs for real, the bench makes sure the deploy has nothing to do, and refuses
to start otherwise: the agent's sources must match the wheelhouse last built (else
`sovereign deploy` rebuilds it and rolls out new agent code), and pyinfra's plan of the deploy
(`--dry --json`: facts read, nothing executed) must show no operation with a change.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import ROOT, RemoteCommands, count_remote_commands, print_header, pyinfra_env

from controller.artifacts import WHEELHOUSE, agent_source_hash, default_dir, read_manifest
from controller.paths import pyinfra_bin
from sovereign.inventory import load_inventory
from sovereign.runner import SITE, parse_pyinfra_output

TARGET_S = 5.0


@dataclass
class Run:
    seconds: float
    cpu_seconds: float  # user + system of the command and its children, on this machine
    output: str


def timed(argv: list[str], env: dict[str, str] | None = None) -> Run:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(output[-4000:])
        raise SystemExit(f"exit status {proc.returncode}: {' '.join(argv)}")
    return Run(took, cpu, output)


def assert_noop(run: Run, what: str) -> int:
    """Every operation on every host said "No changes"; returns how many operations ran."""
    results = parse_pyinfra_output(run.output)
    if not results:
        print(run.output[-4000:])
        raise SystemExit(f"{what}: no operation results found in the output")
    changed = [(host, op, word) for host, op, word in results if word != "No changes"]
    if changed:
        for host, op, word in changed:
            print(f"  [{host}] {op}: {word}")
        raise SystemExit(f"{what}: not a no-op ({len(changed)} operation(s) above): stopped")
    return len(results)


def check_wheelhouse(directories: set[Path]) -> None:
    """Refuse when `sovereign deploy` would rebuild (and roll out) the agent wheelhouse.

    Checked before every deploy the bench runs: the agent's sources may change meanwhile.
    """
    current = agent_source_hash()
    for directory in directories:
        entry = read_manifest(directory).get(WHEELHOUSE)
        if entry is None or entry.get("source_hash") != current:
            raise SystemExit(
                f"the agent's sources (appliance/, api/) differ from the wheelhouse in "
                f"{directory}: this deploy would build and roll out the agent, not be a no-op. "
                "Deploy once first."
            )


def check_plan(inventory: str) -> None:
    """Refuse when pyinfra's plan of the deploy has an operation that would change a host."""
    argv = [pyinfra_bin(), inventory, str(SITE.relative_to(ROOT)), "--dry", "--json"]
    start = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=ROOT, env=pyinfra_env(), capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - start
    if proc.returncode != 0:
        print(proc.stderr[-4000:])
        raise SystemExit(f"the plan failed (exit status {proc.returncode}): {' '.join(argv)}")
    plan = json.loads(proc.stdout)["plan"]
    changes = [(op["name"], op["hosts_with_change"]) for op in plan if op["hosts_with_change"]]
    print(f"plan ({' '.join(argv[1:])}): {len(plan)} operations in {took:.1f} s")
    if changes:
        for name, hosts in changes:
            print(f"  would change on {', '.join(hosts)}: {name}")
        raise SystemExit(
            "the deploy is not a no-op on these hosts now (above): deploy once first, then measure"
        )


def shown(argv: list[str]) -> str:
    """The command as one would type it in the project's directory."""
    return shlex.join(
        str(Path(a).relative_to(ROOT)) if a.startswith(f"{ROOT}/") else a for a in argv
    )


def spread(label: str, runs: list[Run]) -> str:
    secs = [r.seconds for r in runs]
    cpu = statistics.median(r.cpu_seconds for r in runs)
    return (
        f"{label:<16} min {min(secs):6.2f} s  median {statistics.median(secs):6.2f} s  "
        f"max {max(secs):6.2f} s   (this machine's CPU, median: {cpu:.2f} s)"
    )


def per_host(counted: RemoteCommands, hosts: list[str]) -> str:
    return ", ".join(
        f"{h} {counted.commands[h]} ({counted.fact_reads(h)} fact reads, {counted.other(h)} other)"
        for h in hosts
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("inventory", nargs="?", default="inventory/lab.py")
    parser.add_argument("-n", "--runs", type=int, default=5, help="timed runs of A and of B")
    args = parser.parse_args()
    if not 1 <= args.runs <= 50:
        parser.error("-n must be between 1 and 50")
    print_header()
    inventory = load_inventory(args.inventory)
    hosts = [h.name for h in inventory]
    artifacts = {Path(h.data.get("artifacts_dir") or default_dir()) for h in inventory}
    check_wheelhouse(artifacts)
    check_plan(args.inventory)
    sovereign = str(Path(sys.executable).with_name("sovereign"))
    deploy = [sovereign, "deploy", args.inventory]
    counting = [pyinfra_bin(), args.inventory, str(SITE.relative_to(ROOT)), "--yes", "-vv"]
    floor = [pyinfra_bin(), args.inventory, "exec", "--yes", "-vv", "--", "true"]
    print(f"inventory {args.inventory}: {len(hosts)} host(s): {', '.join(hosts)}")
    print(f"A  no-op deploy  {shown(deploy)}")
    print(f"B  floor         {shown(floor)}")

    check_wheelhouse(artifacts)
    warm = timed(counting, pyinfra_env())
    ops = assert_noop(warm, "warm-up run")
    print(
        f"warm-up (not timed in the figures) {' '.join(counting[1:])}: {warm.seconds:.2f} s, "
        f"{ops} operation results, all 'No changes'"
    )
    print(
        f"remote commands of a no-op deploy: {per_host(count_remote_commands(warm.output), hosts)}"
    )

    a_runs: list[Run] = []
    b_runs: list[Run] = []
    floor_counts: RemoteCommands | None = None
    for i in range(args.runs):
        check_wheelhouse(artifacts)
        a = timed(deploy)
        ops = assert_noop(a, f"run {i + 1} of A")
        b = timed(floor, pyinfra_env())
        floor_counts = count_remote_commands(b.output)
        a_runs.append(a)
        b_runs.append(b)
        print(
            f"run {i + 1}/{args.runs}  A {a.seconds:6.2f} s ({ops} ops, no changes)  "
            f"B {b.seconds:6.2f} s",
            flush=True,
        )
    assert floor_counts is not None
    print(spread("A no-op deploy", a_runs))
    print(spread("B pyinfra floor", b_runs))
    a_median = statistics.median(r.seconds for r in a_runs)
    b_median = statistics.median(r.seconds for r in b_runs)
    print(
        f"A/B (medians) x{a_median / b_median:.2f}; A - B = {a_median - b_median:.2f} s "
        "(what the deploy adds over connecting and running one command)"
    )
    print(f"remote commands of the floor: {per_host(floor_counts, hosts)}")
    # Where A's time goes: the local checks `sovereign deploy` runs before pyinfra starts.
    check_argv = [sovereign, "check", args.inventory]
    check = timed(check_argv)
    print(
        f"of A, local checks alone ({shown(check_argv)}, no connection): {check.seconds:.2f} s; "
        f"pyinfra with the deploy (the warm-up): {warm.seconds:.2f} s"
    )
    verdict = "met" if a_median <= TARGET_S else "MISSED"
    print(
        f"target: no-op deploy <= {TARGET_S:g} s per host: {verdict} "
        f"(median {a_median:.2f} s over {args.runs} run(s), {len(hosts)} host(s) in parallel)"
    )


if __name__ == "__main__":
    main()
