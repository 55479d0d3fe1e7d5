"""testinfra suite: checks the provisioned state of each host against its inventory data.

`sovereign verify INVENTORY` runs it with --hosts/--ssh-config and SOVEREIGN_HOSTS_JSON: a file
`{host name: inventory data}`. What each check expects comes from that data and the documented
defaults in `expected.py`; nothing here imports the project's code.

Checks over declared things (pools, datasets, roles, databases, topics) are parametrized by
them: an item's fixture (`pool`, `dataset`, …) yields one declared thing of the host under test.
A `journal(unit)` mark attaches the unit's last journal lines to a failure report.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra import expected
from tests.infra.expected import HostData

HOSTS_JSON = "SOVEREIGN_HOSTS_JSON"
JOURNAL_LINES = 40

# Outside `sovereign verify` (e.g. a bare `pytest tests`) there is nothing to check against:
# collect nothing here rather than run checks against the local machine.
collect_ignore_glob = [] if os.environ.get(HOSTS_JSON) else ["test_*.py"]


def declared_hosts() -> dict[str, HostData]:
    path = os.environ.get(HOSTS_JSON)
    if not path:
        raise pytest.UsageError(f"{HOSTS_JSON} is not set: run this suite with `sovereign verify`")
    hosts = json.loads(Path(path).read_text())
    if not isinstance(hosts, dict):
        raise pytest.UsageError(f"{path}: expected an object {{host name: inventory data}}")
    return hosts


@dataclass(frozen=True)
class Declared:
    """One declared thing (a dataset, a role…) of one host: a parameter of the checks."""

    host: str
    value: Any


# Fixture name -> the declared things of a host, each with its test id.
PER_HOST: dict[str, Callable[[HostData], Iterable[tuple[str, Any]]]] = {
    "pool": lambda data: ((p.name, p) for p in expected.pools(data)),
    "dataset": lambda data: ((d.name, d) for d in expected.datasets(data)),
    "package": lambda data: ((p, p) for p in expected.Base.of(data, "").packages),
    "pg_role": lambda data: ((r.name, r) for r in expected.Postgres.of(data).every_role),
    "pg_database": lambda data: ((d.name, d) for d in expected.Postgres.of(data).every_database),
    "topic": lambda data: ((name, (name, n)) for name, n in expected.Broker.of(data).topics),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "journal(unit): attach the unit's last journal lines to a failure; `unit` is a name "
        "or a function of the host's inventory data",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    wanted = [name for name in PER_HOST if name in metafunc.fixturenames]
    if not wanted:
        return
    hosts = declared_hosts()
    for name in wanted:
        params = [
            pytest.param(Declared(host, value), id=ident)
            for host, data in sorted(hosts.items())
            for ident, value in PER_HOST[name](data)
        ]
        metafunc.parametrize(name, params, indirect=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep each declared thing with its own host only (testinfra crosses every test with
    every host)."""
    kept = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        target = params.get("_testinfra_host")
        owners = {p.host for p in params.values() if isinstance(p, Declared)}
        if target is not None and not _for_its_kind(item, target.backend.hostname):
            continue
        if target is None or not owners or owners == {target.backend.hostname}:
            kept.append(item)
    items[:] = kept


def _for_its_kind(item: pytest.Item, host: str) -> bool:
    """A backup host (`kind = "backup"`) gets the checks of what it has only."""
    if not expected.is_backup_host(declared_hosts().get(host, {})):
        return True
    module = getattr(item, "module", None)
    name = module.__name__.rsplit(".", 1)[-1] if module is not None else ""
    return (
        name in expected.BACKUP_HOST_MODULES
        and getattr(item, "originalname", item.name) not in expected.NOT_ON_BACKUP_HOSTS
    )


def _declared(request: pytest.FixtureRequest) -> Any:
    param: Declared = request.param
    return param.value


@pytest.fixture
def pool(request: pytest.FixtureRequest) -> expected.Pool:
    value: expected.Pool = _declared(request)
    return value


@pytest.fixture
def dataset(request: pytest.FixtureRequest) -> expected.Dataset:
    value: expected.Dataset = _declared(request)
    return value


@pytest.fixture
def package(request: pytest.FixtureRequest) -> str:
    value: str = _declared(request)
    return value


@pytest.fixture
def pg_role(request: pytest.FixtureRequest) -> expected.PgRole:
    value: expected.PgRole = _declared(request)
    return value


@pytest.fixture
def pg_database(request: pytest.FixtureRequest) -> expected.PgDatabase:
    value: expected.PgDatabase = _declared(request)
    return value


@pytest.fixture
def topic(request: pytest.FixtureRequest) -> tuple[str, int]:
    value: tuple[str, int] = _declared(request)
    return value


@pytest.fixture(scope="session")
def inventory_hosts() -> dict[str, HostData]:
    return declared_hosts()


@pytest.fixture(scope="module")
def host_name(host: Any) -> str:
    return str(host.backend.hostname)


@pytest.fixture(scope="module")
def host_data(host_name: str, inventory_hosts: dict[str, HostData]) -> HostData:
    """The inventory data of the host under test."""
    if host_name not in inventory_hosts:
        pytest.fail(f"host {host_name} is not in the inventory")
    return inventory_hosts[host_name]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    mark = item.get_closest_marker("journal")
    # testinfra's host object is the test's `_testinfra_host` parameter (also when a fixture
    # failed before the test got its `host`).
    host = getattr(getattr(item, "callspec", None), "params", {}).get("_testinfra_host")
    if report.when != "teardown" and report.failed and mark is not None and host is not None:
        unit = mark.args[0]
        try:
            if callable(unit):
                unit = unit(declared_hosts().get(str(host.backend.hostname), {}))
            text = host.run(
                f"journalctl -u {unit} -n {JOURNAL_LINES} --no-pager -o short-iso 2>&1"
            ).stdout
        except Exception as exc:  # the report must not fail because the host did
            text = f"(journal unavailable: {exc})"
        report.sections.append((f"journal of {unit} (last {JOURNAL_LINES} lines)", text))
    return report


@pytest.fixture(scope="module")
def viewer_header(host: Any) -> Generator[str, None, None]:
    """A root-only file on the host holding `Authorization: Bearer TOKEN` for a viewer token
    made for this module with the agent's host CLI (curl -H @FILE): the token never leaves
    the host, and is revoked afterwards."""
    name = f"verify-{os.getpid()}-{id(host) % 10_000}"
    path = f"/run/sovereign-verify-{name}"
    made = host.run(
        f"umask 077 && t=$({expected.AGENT_CLI} token create --name {name} --role viewer "
        f"--expires-in 0.02 2>/dev/null) && printf 'Authorization: Bearer %s\\n' \"$t\" > {path}"
    )
    assert made.rc == 0, f"could not make a viewer token on the host (exit {made.rc})"
    yield path
    host.run(f"rm -f {path}; {expected.AGENT_CLI} token revoke {name} >/dev/null 2>&1")


def exposure(host: Any, unit: str) -> float:
    """`systemd-analyze security UNIT`'s overall exposure level."""
    last = host.check_output(f"systemd-analyze security {unit} | tail -1")
    match = re.search(r"level for \S+: (\d+\.\d+)", last)
    assert match, last
    return float(match.group(1))
