"""ZFS backends: py-libzfs when importable, the zfs/zpool CLI otherwise.

The CLI backend runs the shared ``appliance.zfs.commands.state_command()`` (one round trip for
status, dataset properties and capability usage texts) and the shared pure parsers, so it
works the same on OpenZFS 2.x and zfs-fuse 0.7: flags are read from the usage texts, never
assumed from the backend's name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from appliance.command import CommandResult, HostCommandError, available, run
from appliance.errors import BackendUnavailable
from appliance.storage.models import PoolState, ZfsReading
from appliance.zfs import commands
from appliance.zfs.capabilities import Capabilities
from appliance.zfs.errors import ZfsUnavailableError
from appliance.zfs.redundancy import lost_devices, remaining_redundancy
from appliance.zfs.state import parse_state
from appliance.zfs.status import PoolStatus, ScanInfo, Vdev, vdev_kind

log = logging.getLogger(__name__)

Runner = Callable[[list[str], float], CommandResult]


def capability_flags(caps: Capabilities | None) -> dict[str, bool]:
    """The few facts the monitor reports about what this ZFS can do."""
    if caps is None:
        return {}
    return {
        "zfs_get_parsable": "p" in caps.zfs_get_flags,
        "zpool_get_parsable": "p" in caps.zpool_get_flags,
        "zpool_get_scripted": "H" in caps.zpool_get_flags,
        "compression_lz4": "lz4" in caps.compression,
        "compression_zstd": "zstd" in caps.compression,
        "xattr_sa": "sa" in caps.xattr,
        "encryption": "encryption" in caps.dataset_properties,
    }


def pool_state(status: PoolStatus) -> PoolState:
    # Device errors are counted where zpool reports them: on the leaf devices.
    leaves = [leaf for vdev in status.vdevs for leaf in vdev.leaves()]
    return PoolState(
        name=status.name,
        health=status.health,
        redundancy=status.redundancy,
        scan_state=status.scan.state,
        scan_errors=status.scan.errors,
        scan_text=status.scan.raw,
        read_errors=sum(v.read_errors for v in leaves),
        write_errors=sum(v.write_errors for v in leaves),
        checksum_errors=sum(v.checksum_errors for v in leaves),
        errors_text=status.errors,
        redundancy_remaining=remaining_redundancy(status),
        lost_devices=tuple(lost_devices(status)),
    )


def reading_from_state_output(text: str, backend: str) -> ZfsReading:
    """Pure: the state command's output -> a reading (tested on captured output)."""
    try:
        state = parse_state(text)
    except ZfsUnavailableError as exc:
        raise BackendUnavailable(f"ZFS unreachable: {exc}") from exc
    if state.error:
        raise BackendUnavailable(f"ZFS unreachable: {state.error}")
    return ZfsReading(
        backend=backend,
        pools={name: pool_state(p) for name, p in state.pools.items()},
        datasets=state.datasets,
        capabilities=capability_flags(state.capabilities),
    )


class CliBackend:
    name = "cli"

    def __init__(self, timeout_s: float, runner: Runner | None = None) -> None:
        self._timeout = timeout_s
        self._run: Runner = runner or (lambda argv, timeout: run(argv, timeout))
        self._capabilities_known = False
        self._capabilities: dict[str, bool] = {}

    def read_state(self) -> ZfsReading:
        # Capabilities do not change while the agent runs: read the usage texts once.
        script = commands.state_command(capabilities=not self._capabilities_known)
        try:
            # The script is the shared constant from appliance.zfs.commands, not user input.
            out = self._run(["sh", "-c", script], self._timeout)
        except HostCommandError as exc:
            raise BackendUnavailable(str(exc)) from exc
        reading = reading_from_state_output(out.stdout, self.name)
        if not self._capabilities_known and reading.capabilities:
            self._capabilities, self._capabilities_known = reading.capabilities, True
        return ZfsReading(reading.backend, reading.pools, reading.datasets, self._capabilities)


class LibzfsBackend:
    """py-libzfs (TrueNAS). Not installable on this test bed, so exercised only with a fake
    module in tests; property access follows py-libzfs' documented objects."""

    name = "libzfs"

    def __init__(self, libzfs: Any) -> None:
        self._libzfs = libzfs

    def read_state(self) -> ZfsReading:
        try:
            zfs = self._libzfs.ZFS()
            pools: dict[str, PoolState] = {}
            datasets: dict[str, dict[str, str]] = {}
            for pool in zfs.pools:
                pools[pool.name] = self._pool(pool)
                for ds in self._walk(pool.root_dataset):
                    datasets[ds.name] = {
                        key: str(ds.properties[key].rawvalue)
                        for key in commands.DATASET_PROPERTIES
                        if key in ds.properties
                    }
        except self._libzfs.ZFSException as exc:
            raise BackendUnavailable(f"libzfs: {exc}") from exc
        return ZfsReading(self.name, pools, datasets, {})

    @staticmethod
    def _walk(dataset: Any) -> list[Any]:
        found = [dataset]
        for child in dataset.children:
            found += LibzfsBackend._walk(child)
        return found

    @staticmethod
    def _pool(pool: Any) -> PoolState:
        data = list(pool.groups.get("data", []))
        kinds = {str(v.type) for v in data}
        redundancy = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "none")
        leaves: list[Any] = []
        for vdev in data:
            leaves += list(vdev.children) or [vdev]
        scrub = pool.scrub
        state = str(getattr(scrub.state, "name", scrub.state)).lower()
        function = str(getattr(scrub.function, "name", scrub.function)).lower()
        scan_state = (
            "none" if state in ("none", "") else f"{function}_{_SCAN_STATES.get(state, state)}"
        )
        tree = PoolStatus(
            name=str(pool.name),
            health=str(pool.status),
            vdevs=tuple(_libzfs_vdev(v) for v in data),
            spares=(),
            scan=ScanInfo("none", 0, ""),
            errors="",
        )
        return PoolState(
            name=str(pool.name),
            health=str(pool.status),
            redundancy="stripe" if redundancy in ("disk", "file") else redundancy,
            scan_state=scan_state,
            scan_errors=int(scrub.errors or 0),
            scan_text="",
            read_errors=sum(int(v.stats.read_errors) for v in leaves),
            write_errors=sum(int(v.stats.write_errors) for v in leaves),
            checksum_errors=sum(int(v.stats.checksum_errors) for v in leaves),
            errors_text="",
            redundancy_remaining=remaining_redundancy(tree),
            lost_devices=tuple(lost_devices(tree)),
        )


def _libzfs_vdev(vdev: Any) -> Vdev:
    """py-libzfs' vdev as the parser's Vdev: type ``raidz`` carries its parity apart."""
    kind = str(vdev.type)
    if kind == "raidz":
        kind = f"raidz{int(getattr(vdev, 'parity', 1) or 1)}"
    elif kind not in ("mirror", "disk", "file") and not kind.startswith(("raidz", "draid")):
        kind = vdev_kind(kind)
    return Vdev(
        name=str(getattr(vdev, "path", None) or kind),
        kind=kind,
        state=str(getattr(vdev, "status", "ONLINE")),
        children=tuple(_libzfs_vdev(child) for child in vdev.children),
    )


_SCAN_STATES = {"scanning": "in_progress", "finished": "finished", "canceled": "canceled"}


def detect_backend(preference: str, timeout_s: float) -> CliBackend | LibzfsBackend:
    """``auto``: py-libzfs when ``import libzfs`` works, else the CLI."""
    if preference in ("auto", "libzfs"):
        try:
            import libzfs  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            if preference == "libzfs":
                raise BackendUnavailable("zfs_backend=libzfs but `import libzfs` fails") from None
        else:
            log.info("storage: using py-libzfs")
            return LibzfsBackend(libzfs)
    if not available("zpool") or not available("zfs"):
        raise BackendUnavailable("neither py-libzfs nor the zfs/zpool commands are installed")
    log.info("storage: using the zfs/zpool CLI")
    return CliBackend(timeout_s)
