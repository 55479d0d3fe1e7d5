from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_ATTRS = ConfigDict(from_attributes=True)


class MetricOut(BaseModel):
    name: str = Field(description="Metric name, usable in /metrics/{metric_name}.")
    description: str = Field(description="What the metric measures.")
    unit: str = Field(description="Unit of value: percent, ratio, count, bytes/s.")
    value: float = Field(description="Latest sampled value.")
    timestamp: float = Field(description="Unix time of the sample.")


class DiskOut(BaseModel):
    model_config = _ATTRS
    mountpoint: str = Field(description="Mount point.")
    device: str = Field(description="Block device or source.")
    fstype: str = Field(description="File system type.")
    total_bytes: int = Field(description="Size in bytes.")
    used_bytes: int = Field(description="Used bytes.")
    free_bytes: int = Field(description="Free bytes for unprivileged users.")
    percent: float = Field(description="Used, percent.")


class NetworkRateOut(BaseModel):
    model_config = _ATTRS
    interface: str = Field(description="Interface name (lo excluded).")
    bytes_sent_per_s: float = Field(description="Bytes sent per second since the last sample.")
    bytes_recv_per_s: float = Field(description="Bytes received per second.")
    packets_sent_per_s: float = Field(description="Packets sent per second.")
    packets_recv_per_s: float = Field(description="Packets received per second.")
    errors_per_s: float = Field(description="Receive plus send errors per second.")


class LoadOut(BaseModel):
    model_config = _ATTRS
    one: float = Field(description="1-minute load average divided by the core count.")
    five: float = Field(description="5-minute load average per core.")
    fifteen: float = Field(description="15-minute load average per core.")


class ZombieOut(BaseModel):
    model_config = _ATTRS
    pid: int = Field(description="Process id of the zombie.")
    ppid: int = Field(description="Parent that has not reaped it.")
    name: str = Field(description="Process name.")


class LeakSuspectOut(BaseModel):
    model_config = _ATTRS
    pid: int = Field(description="Process id.")
    name: str = Field(description="Process name.")
    first_rss_bytes: int = Field(description="RSS at the start of the window.")
    last_rss_bytes: int = Field(description="RSS now.")
    growth_bytes: int = Field(description="Growth over the window.")
    growth_ratio: float = Field(description="Growth relative to the first RSS.")
    samples: int = Field(description="Samples in the window.")
    window_s: float = Field(description="Seconds the window spans.")


class VitalsOut(BaseModel):
    model_config = _ATTRS
    ts: float = Field(description="Unix time of the sample.")
    status: str = Field(description="HEALTHY, DEGRADED or CRITICAL_LOAD by the thresholds.")
    reasons: list[str] = Field(description="Every reading at or above its warning threshold.")
    cpu_percent: float = Field(description="CPU busy, percent.")
    cpu_count: int = Field(description="Logical cores.")
    memory_percent: float = Field(description="Memory in use, percent.")
    memory_total_bytes: int = Field(description="Physical memory.")
    memory_available_bytes: int = Field(description="Memory available without swapping.")
    swap_percent: float = Field(description="Swap in use, percent.")
    swap_total_bytes: int = Field(description="Swap size.")
    swap_used_bytes: int = Field(description="Swap in use.")
    load: LoadOut = Field(description="Load averages per core.")
    disks: list[DiskOut] = Field(description="Usage per mounted file system.")
    network: list[NetworkRateOut] = Field(description="Rates per interface.")
    process_count: int = Field(description="Processes on the host.")
    zombies: list[ZombieOut] = Field(description="Zombie processes.")
    leak_suspects: list[LeakSuspectOut] = Field(
        description="Processes whose RSS grew steadily over the sampling window."
    )


class MetricsOut(BaseModel):
    timestamp: float = Field(description="Unix time of the sample.")
    metrics: list[MetricOut] = Field(description="Every scalar metric, latest value.")
    vitals: VitalsOut = Field(description="The full latest vitals sample.")


class SampleOut(BaseModel):
    model_config = _ATTRS
    ts: float = Field(description="Unix time.")
    value: float = Field(description="Value at that time.")


class MetricHistoryOut(BaseModel):
    name: str = Field(description="Metric name.")
    unit: str = Field(description="Unit of the values.")
    description: str = Field(description="What the metric measures.")
    samples: list[SampleOut] = Field(description="Oldest first.")


class LatencyOut(BaseModel):
    model_config = _ATTRS
    count: int = Field(description="Requests or checks counted.")
    errors: int = Field(description="Failures (HTTP 5xx, or checks down).")
    error_rate: float = Field(description="errors / count.")
    avg_ms: float = Field(description="Mean latency over the recent window, ms.")
    p50_ms: float = Field(description="Median latency, ms.")
    p95_ms: float = Field(description="95th percentile, ms.")
    p99_ms: float = Field(description="99th percentile, ms.")
    max_ms: float = Field(description="Largest latency in the window, ms.")


class ServicePerformanceOut(BaseModel):
    model_config = _ATTRS
    name: str = Field(description="Health check (service) name.")
    status: str = Field(description="Last status: up, down or degraded.")
    checks: int = Field(description="Checks in the kept history.")
    up_ratio: float = Field(description="Share of those checks that were up.")
    latency: LatencyOut = Field(description="Check latency statistics.")
    last_latency_ms: float = Field(description="Latency of the last check, ms.")
    last_checked_at: float = Field(description="Unix time of the last check.")
    source: str = Field(
        default="checks",
        description="checks: the agent's health checks; spans: a service's spans over OTLP "
        "(checks are then its requests over window_s, up_ratio the share without error).",
    )
    window_s: float | None = Field(default=None, description="spans: the window, seconds.")
    request_rate_per_s: float | None = Field(
        default=None, description="spans: requests per second over the window."
    )


class PerformanceOut(BaseModel):
    active_connections: int = Field(description="HTTP requests in flight now.")
    requests: LatencyOut = Field(description="All HTTP requests served by the agent.")
    routes: dict[str, LatencyOut] = Field(description="Per 'METHOD route-template'.")
    services: list[ServicePerformanceOut] = Field(description="Per health-checked service.")


class HostOut(BaseModel):
    model_config = _ATTRS
    hostname: str = Field(description="Host name.")
    os: str = Field(description="Operating system (os-release PRETTY_NAME).")
    kernel: str = Field(description="Kernel release.")
    architecture: str = Field(description="Machine architecture.")
    cpu_count: int = Field(description="Logical cores.")
    memory_total_bytes: int = Field(description="Physical memory.")
    boot_time: float = Field(description="Unix time of boot.")
    uptime_s: float = Field(description="Seconds since boot.")


class UnitOut(BaseModel):
    model_config = _ATTRS
    unit: str = Field(description="systemd unit name.")
    description: str = Field(description="Unit description.")
    load: str = Field(description="LoadState: loaded, not-found, masked…")
    active: str = Field(description="ActiveState: active, failed, inactive…")
    sub: str = Field(description="SubState: running, exited, dead…")
    enabled: str | None = Field(description="UnitFileState: enabled, disabled, static…")
    main_pid: int | None = Field(description="Main process id when running.")
    restarts: int | None = Field(description="NRestarts: automatic restarts so far.")
    memory_bytes: int | None = Field(description="MemoryCurrent, when accounting is on.")
    active_since: str | None = Field(description="ActiveEnterTimestamp as systemd prints it.")


class ContainerOut(BaseModel):
    model_config = _ATTRS
    runtime: str = Field(description="docker or podman.")
    id: str = Field(description="Container id.")
    name: str = Field(description="Container name(s).")
    image: str = Field(description="Image reference.")
    state: str = Field(description="running, exited…")
    status: str = Field(description="Runtime's human status text.")


class ContainersOut(BaseModel):
    systemd_available: bool = Field(description="Whether systemd could be queried.")
    systemd_reason: str = Field(description="Why not, when it could not.")
    units: list[UnitOut] = Field(description="The appliance's units (configured patterns).")
    runtimes: list[str] = Field(description="Container runtimes found on the host.")
    containers: list[ContainerOut] = Field(description="Containers of all runtimes.")
    errors: list[str] = Field(description="Runtimes that failed to answer.")


class UnitCounts(BaseModel):
    available: bool = Field(description="Whether systemd could be queried.")
    reason: str = Field(description="Why not, when it could not.")
    total: int = Field(description="Appliance units found.")
    active: int = Field(description="Units whose ActiveState is active.")
    failed: list[str] = Field(description="Units whose ActiveState is failed.")


class ContainerCounts(BaseModel):
    runtimes: list[str] = Field(description="Container runtimes found.")
    total: int = Field(description="Containers, any state.")
    running: int = Field(description="Containers running.")


class InfrastructureOut(BaseModel):
    host: HostOut = Field(description="Host identity.")
    lifecycle: str = Field(description="Agent lifecycle state.")
    agent_uptime_s: float = Field(description="Seconds since the agent started.")
    vitals_status: str = Field(description="Latest vitals status.")
    health_status: str = Field(description="Latest overall health status.")
    units: UnitCounts = Field(description="systemd units of the appliance.")
    containers: ContainerCounts = Field(description="Containers on the host.")
