"""Host identity (psutil/platform adapter) for the infrastructure overview."""

from __future__ import annotations

import platform
import socket
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class HostInfo:
    hostname: str
    os: str
    kernel: str
    architecture: str
    cpu_count: int
    memory_total_bytes: int
    boot_time: float
    uptime_s: float


def host_info() -> HostInfo:
    boot = psutil.boot_time()
    try:
        os_name = platform.freedesktop_os_release().get("PRETTY_NAME", platform.system())
    except OSError:
        os_name = platform.system()
    return HostInfo(
        hostname=socket.gethostname(),
        os=os_name,
        kernel=platform.release(),
        architecture=platform.machine(),
        cpu_count=psutil.cpu_count() or 1,
        memory_total_bytes=psutil.virtual_memory().total,
        boot_time=boot,
        uptime_s=round(time.time() - boot, 1),
    )
