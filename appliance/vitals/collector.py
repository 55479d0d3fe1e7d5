"""psutil adapter: one raw reading of the host. The only vitals module that touches psutil."""

from __future__ import annotations

import logging
import time

import psutil

from appliance.vitals.models import DiskUsage, NetworkCounters, ProcessInfo, RawSnapshot

log = logging.getLogger(__name__)

_PROC_ATTRS = ["pid", "name", "memory_info", "status", "ppid", "create_time"]


class PsutilCollector:
    def __init__(self) -> None:
        # cpu_percent(None) measures since the previous call; the first call primes it.
        psutil.cpu_percent(interval=None)

    def collect(self) -> RawSnapshot:
        memory = psutil.virtual_memory()
        swap = psutil.swap_memory()
        return RawSnapshot(
            ts=time.time(),
            cpu_percent=psutil.cpu_percent(interval=None),
            cpu_count=psutil.cpu_count() or 1,
            memory_percent=memory.percent,
            memory_total_bytes=memory.total,
            memory_available_bytes=memory.available,
            swap_percent=swap.percent,
            swap_total_bytes=swap.total,
            swap_used_bytes=swap.used,
            load_avg=psutil.getloadavg(),
            disks=self._disks(),
            network=self._network(),
            processes=self._processes(),
        )

    @staticmethod
    def _disks() -> tuple[DiskUsage, ...]:
        disks: dict[str, DiskUsage] = {}
        for part in psutil.disk_partitions(all=False):
            if part.mountpoint in disks:
                continue
            try:
                usage = psutil.disk_usage(part.mountpoint)
            except OSError:  # unreadable or vanished mount: skip, do not fail the sample
                continue
            disks[part.mountpoint] = DiskUsage(
                mountpoint=part.mountpoint,
                device=part.device,
                fstype=part.fstype,
                total_bytes=usage.total,
                used_bytes=usage.used,
                free_bytes=usage.free,
                percent=usage.percent,
            )
        return tuple(disks.values())

    @staticmethod
    def _network() -> dict[str, NetworkCounters]:
        counters = psutil.net_io_counters(pernic=True)
        return {
            nic: NetworkCounters(
                bytes_sent=c.bytes_sent,
                bytes_recv=c.bytes_recv,
                packets_sent=c.packets_sent,
                packets_recv=c.packets_recv,
                errin=c.errin,
                errout=c.errout,
            )
            for nic, c in counters.items()
            if nic != "lo"
        }

    @staticmethod
    def _processes() -> tuple[ProcessInfo, ...]:
        procs = []
        for proc in psutil.process_iter(_PROC_ATTRS, ad_value=None):
            info = proc.info
            mem = info.get("memory_info")
            procs.append(
                ProcessInfo(
                    pid=int(info["pid"]),
                    name=str(info.get("name") or "?"),
                    rss_bytes=int(mem.rss) if mem is not None else 0,
                    status=str(info.get("status") or "?"),
                    ppid=int(info.get("ppid") or 0),
                    create_time=float(info.get("create_time") or 0.0),
                )
            )
        return tuple(procs)
