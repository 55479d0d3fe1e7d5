"""Running the deploy (pyinfra) and the verification suite (testinfra) for an inventory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from controller.errors import SovereignError
from controller.paths import PROJECT_ROOT
from sovereign.inventory import load_inventory, render_ssh_config
from sovereign.plan import HostPlan, PlannedOp, parse_plan
from sovereign.preflight import PREFLIGHT_FAILED

SITE = PROJECT_ROOT / "deploy" / "site.py"
DRY_REPORT = PROJECT_ROOT / "sovereign" / "dry_report.py"
INFRA_TESTS = PROJECT_ROOT / "tests" / "infra"

ANSI_RE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class DeployResult:
    returncode: int
    output: str
    # op name -> per-host result word as pyinfra prints it ("Success", "No changes", "Error")
    results: list[tuple[str, str, str]] = field(default_factory=list)
    # --dry: what each host would change (sovereign/plan.py); None for a real run
    plan: list[HostPlan] | None = None

    @property
    def changed(self) -> list[tuple[str, str]]:
        return [(host, op) for host, op, word in self.results if word != "No changes"]

    @property
    def would_change(self) -> list[PlannedOp]:
        return [op for host in self.plan or [] for op in host.ops]

    def failure_report(self, tail: int = 2500) -> str:
        """Why a deploy failed, for an assertion message: each failed operation as pyinfra
        printed it (the command's or unit's own words come before its `Error` line), then the
        output's tail. The summary table alone says only that something failed."""
        blocks: list[list[str]] = [[]]
        for raw in self.output.splitlines():
            line = ANSI_RE.sub("", raw)
            if OP_RE.match(line):
                blocks.append([])
            blocks[-1].append(line)
        failed = ["\n".join(block[:40]) for block in blocks if any(map(ERROR_RE.match, block))]
        return "\n".join([*failed[:5], "[...]", self.output[-tail:]])


FAILED_UNIT_RE = re.compile(r"^\s*\[(?P<host>[^\]]+)\] Job for (?P<unit>\S+) failed")


def failed_units(output: str) -> list[tuple[str, str]]:
    """(host, unit) for each systemd job a deploy saw fail: whose journal says why."""
    found = (FAILED_UNIT_RE.match(ANSI_RE.sub("", line)) for line in output.splitlines())
    return list(dict.fromkeys((m.group("host"), m.group("unit")) for m in found if m))


RESULT_RE = re.compile(r"^\s*\[(?P<host>[^\]]+)\] (?P<word>Success|No changes|Error)\s*$")
OP_RE = re.compile(r"^--> Starting operation: (?P<op>.+?)\s*$")
ERROR_RE = re.compile(r"^\s*\[[^\]]+\] (Error: |Unexpected error)")


def parse_pyinfra_output(output: str) -> list[tuple[str, str, str]]:
    """(host, operation, result) for every operation pyinfra executed, from its output."""
    results = []
    op = ""
    for raw in output.splitlines():
        line = ANSI_RE.sub("", raw)
        m = OP_RE.match(line)
        if m:
            op = m.group("op")
            continue
        m = RESULT_RE.match(line)
        if m and op:
            results.append((m.group("host"), op, m.group("word")))
    return results


def run_deploy(
    inventory: str, *, dry: bool = False, limit: str | None = None, echo: bool = True
) -> DeployResult:
    """Run deploy/site.py against the inventory, streaming pyinfra's output.

    One child process (sovereign/pyinfra_run.py) loads the inventory, runs the preflight, and
    only then hands over to pyinfra: a bad inventory or artifact cache fails before pyinfra
    connects anywhere, and Python starts once.
    """
    if dry:
        # Without --yes pyinfra detects changes before it would execute; --dry stops it there,
        # and the report file prints each host's plan from that detection.
        args = [inventory, str(SITE), str(DRY_REPORT), "--dry"]
    else:
        args = [inventory, str(SITE), "--yes"]
    if limit:
        args += ["--limit", limit]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sovereign.pyinfra_run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=PROJECT_ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    lines = []
    refused: str | None = None
    table = DetectedChangesTable()
    for line in proc.stdout:
        if line.startswith(PREFLIGHT_FAILED):
            refused = json.loads(line[len(PREFLIGHT_FAILED) :])
            continue
        lines.append(line)
        if echo and not (dry and table.hides(line)):
            sys.stdout.write(line)
            sys.stdout.flush()
    returncode = proc.wait()
    if refused is not None:
        raise SovereignError(refused)
    output = "".join(lines)
    if not dry:
        return DeployResult(returncode, output, parse_pyinfra_output(output))
    return DeployResult(returncode, output, plan=parse_plan(output))


class DetectedChangesTable:
    """Hides pyinfra's own "Detected changes" table in a dry run: the plan printed before it
    says the same per host and command, and evaluates what pyinfra calls "conditional"."""

    START = "--> Detected changes:"
    END = "reflect the state defined by the input operations."

    def __init__(self) -> None:
        self.inside = False

    def hides(self, raw: str) -> bool:
        line = ANSI_RE.sub("", raw).strip()
        if line == self.START:
            self.inside = True
        elif self.inside and (line.endswith(self.END) or line.startswith("--> ")):
            self.inside = False
            return line.endswith(self.END)
        return self.inside


def run_verify(inventory: str, pytest_args: list[str]) -> int:
    """Run the testinfra suite against every host of the inventory.

    The suite imports no project code: it gets each host's inventory data as a JSON file
    (`SOVEREIGN_HOSTS_JSON`, `{host name: data}`, private to this user) and states its
    expectations from that and the documented defaults.
    """
    hosts = load_inventory(inventory)
    if not INFRA_TESTS.is_dir():
        raise SovereignError(f"the verification suite is missing ({INFRA_TESTS})")
    with tempfile.TemporaryDirectory(prefix="sovereign-verify-") as tmp:
        ssh_config = Path(tmp) / "ssh_config"
        ssh_config.write_text(render_ssh_config(hosts))
        hosts_json = Path(tmp) / "hosts.json"
        fd = os.open(hosts_json, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump({h.name: h.data for h in hosts}, out)
        argv = [
            sys.executable,
            "-m",
            "pytest",
            str(INFRA_TESTS),
            f"--hosts={','.join('ssh://' + h.name for h in hosts)}",
            f"--ssh-config={ssh_config}",
            "-p",
            "no:cacheprovider",
            *pytest_args,
        ]
        env = {**os.environ, "SOVEREIGN_HOSTS_JSON": str(hosts_json)}
        return subprocess.call(argv, env=env, cwd=PROJECT_ROOT)
