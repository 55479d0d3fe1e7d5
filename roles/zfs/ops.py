"""Operations of the zfs role: read the ZfsStorage fact once, plan purely, yield commands."""

from __future__ import annotations

import logging
from collections.abc import Generator

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from appliance.zfs.capabilities import Capabilities
from appliance.zfs.state import ZfsState, state_from_dict
from roles.common.managed import cached_fact
from roles.zfs import plan
from roles.zfs.backends import BASELINE, Backend
from roles.zfs.facts import ZfsStorage
from roles.zfs.settings import DatasetSpec, PoolSpec

logger = logging.getLogger(__name__)


def _command(argv: list[str]) -> StringCommand:
    return StringCommand(*(QuoteString(arg) for arg in argv))


def _executing() -> bool:
    """True while pyinfra executes (facts are fresh); False while it only plans the deploy."""
    state = getattr(host, "state", None)
    if state is None:  # the unit-test fake host: behave as at execution
        return True
    from pyinfra.api.state import StateStage

    return bool(state.current_stage == StateStage.Execute)


def _read_state(backend: Backend) -> tuple[ZfsState, Capabilities]:
    raw = cached_fact(ZfsStorage)
    if raw is None:
        # zpool is not installed yet (first run, planning phase): plan from an empty host.
        return ZfsState(pools={}, datasets={}, capabilities=None), BASELINE[backend]
    state = state_from_dict(raw)
    if state.error:
        if _executing():
            raise OperationError(f"ZFS backend {backend} is not reachable: {state.error}")
        return state, BASELINE[backend]
    return state, state.capabilities or BASELINE[backend]


@operation()
def pool(spec: PoolSpec, backend: Backend = "openzfs") -> Generator[StringCommand, None, None]:
    """
    Create a ZFS pool when absent; an existing pool is never changed.

    + spec: the pool as the host spec declares it (name, layout, disks, spares, ashift,
      mountpoint, force), validated there once
    + backend: openzfs or zfs-fuse (capabilities before the tools are installed)

    A pool with the declared topology is a no-op; a different topology or disk set stops the
    deploy with an error and changes nothing; a pool that is not ONLINE is left alone with a
    warning.
    """
    state, caps = _read_state(backend)
    try:
        result = plan.plan_pool(spec, state, caps)
    except plan.PlanError as exc:
        raise OperationError(str(exc)) from None
    if result.action == "create":
        yield _command(result.command)
        return
    if result.action == "degraded":
        logger.warning("%s: %s", host.name, result.message)
    host.noop(result.message)


@operation()
def datasets(
    pool: str,
    datasets: list[DatasetSpec],
    backend: Backend = "openzfs",
) -> Generator[StringCommand, None, None]:
    """
    Create datasets and converge their properties; one fact read for all of them.

    + pool: the pool the datasets live in
    + datasets: the datasets as the host spec declares them (name, quota, refquota,
      reservation, compression, recordsize, mountpoint, atime; sizes absolute or a percentage
      of the pool), validated there once
    + backend: openzfs or zfs-fuse (capabilities before the tools are installed)

    Properties not given are left to ZFS; nothing is ever destroyed. On a pool that is not
    ONLINE nothing is changed.
    """
    for spec in datasets:
        if spec.name.split("/", 1)[0] != pool:
            raise OperationError(f"dataset {spec.name} is not in pool {pool}")
    state, caps = _read_state(backend)
    try:
        result = plan.plan_datasets(pool, datasets, state, caps)
    except plan.PlanError as exc:
        raise OperationError(str(exc)) from None
    if not result.commands:
        host.noop(result.message)
        return
    for argv in result.commands:
        yield _command(argv)
