"""Agent settings.

Sources, highest priority first:

1. keyword arguments (tests, ``create_app(Settings(...))``);
2. environment variables with the ``APPLIANCE_`` prefix; nested tables use ``__``, e.g.
   ``APPLIANCE_THRESHOLDS__CPU_CRITICAL=97``; lists are JSON, e.g.
   ``APPLIANCE_SYSTEMD_UNITS='["sovereign-*"]'``;
3. a TOML file at ``APPLIANCE_CONFIG_FILE`` (default ``/etc/sovereign/agent.toml``, rendered by
   the pyinfra role). A missing default file is fine; a missing file that was named explicitly
   is an error. Unknown keys are rejected so a typo does not silently fall back to a default.

Example file (every key, with its default; each table's model lives beside its subsystem, named
in the table's comment)::

    host = "127.0.0.1"
    port = 8013
    log_level = "info"
    # database_url = "postgresql://sovereign_agent@127.0.0.1:5432/sovereign_agent"  # no password;
    #                                 # unset: SQLite (appliance/database/settings.py)
    # database_password_secret = "postgres/sovereign_agent"   # secret whose field `password`
    #                                 # is the database's password; unset: none (trust, peer)
    sqlite_path = "/var/lib/sovereign/agent.db"   # the SQLite store; with database_url set,
    #                                 # its history is imported once, then it is renamed *.imported
    sample_interval_s = 5.0
    history_size = 720
    history_retention_s = 604800
    health_interval_s = 15.0
    health_timeout_s = 5.0
    drain_grace_s = 5.0
    drain_timeout_s = 30.0
    switch_interval_ms = 0.5        # the interpreter lock's switch interval (Python's: 5 ms)
    zfs_backend = "auto"            # auto | libzfs | cli
    zfs_command_timeout_s = 10.0
    zfs_pools = []                  # empty: every imported pool
    storage_cache_ttl_s = 10.0
    systemd_units = ["sovereign-*", "zfs*", "postgresql*", "openbao*", "vault*",
                     "nextcloud*", "redpanda*", "tansu*", "nginx*"]
    command_timeout_s = 5.0
    # postgres_health_dsn = "host=127.0.0.1 port=5432 dbname=postgres user=sovereign"
    # postgres_password_secret = "postgres/sovereign"   # secret whose field `password` is the
    #                                                   # check's password; unset: none (peer auth)

    [secrets]                       # where the agent's secrets live (appliance/secrets/settings.py)
    backend = "env"                 # env (development) | vault | aws
    cache_ttl_s = 300.0             # a fetched value is served this long without asking
    stale_max_s = 86400.0           # then, while the backend cannot answer, served this much
                                    # longer marked stale; then "unavailable"
    # env_file = "/etc/sovereign/secrets.env"   # env backend: dotenv file under the environment

    [secrets.vault]                 # backend = "vault": AppRole login, KV v2, transit
    address = "https://127.0.0.1:8200"
    ca_cert = "/etc/sovereign/vault/tls/ca.crt"   # "" : the system's CAs
    role_id_file = "/etc/sovereign/vault/agent/role-id"
    secret_id_file = "/etc/sovereign/vault/agent/secret-id"
    approle_mount = "approle"
    kv_mount = "sovereign"          # KV v2; secret names are paths below it
    transit_mount = "transit"
    timeout_s = 3.0                 # per HTTP request
    retries = 2                     # extra attempts on transient errors (connection, 5xx, sealed)
    backoff_initial_s = 0.1         # doubled per attempt, capped, with jitter
    backoff_max_s = 1.0
    breaker_failures = 5            # consecutive failed calls that open the circuit breaker
    breaker_cooldown_s = 2.0        # open: fail fast this long, then let one call through

    [secrets.aws]                   # backend = "aws": Secrets Manager (needs the `aws` extra)
    # region = "eu-west-1"          # unset: boto3's default chain
    prefix = "sovereign/"           # secret "postgres/sovereign" is "sovereign/postgres/sovereign"
    timeout_s = 3.0

    # [totp]                        # TOTP second factor (appliance/totp_settings.py);
    #                               # needs secrets.backend = "vault"
    # issuer = "Sovereign Appliance"
    # digits = 6
    # period = 30
    # valid_window = 1              # steps of clock drift accepted either side

    [security]                      # who may call the agent (appliance/security/settings.py)
    scrape_networks = []            # CIDRs whose GET /metrics needs no token (Prometheus)
    trusted_proxies = []            # the edge's address(es): the client is then the last
                                    # X-Forwarded-For hop not in this list
    rate_per_token = 200.0          # requests/s per token (429 with Retry-After beyond)
    burst = 400
    rate_per_address = 400.0        # requests/s per client address (anonymous /health excepted)
    address_burst = 800
    auth_failure_rate = 1.0         # failed authentications/s (bad token or TOTP code) once
    auth_failure_burst = 10         # this burst is spent; beyond, credentials are not read
    auth_failures_lockout = 20      # failures in a row that lock the address out (audited)
    lockout_s = 900.0
    max_body_bytes = 65536          # larger request bodies: 413
    token_cache_ttl_s = 10.0        # a token revoked by the host CLI fails within this time
    last_used_interval_s = 60.0     # last_used_at written at most this often per token
    step_up_ttl_s = 300.0           # lifetime of a TOTP step-up grant (X-Step-Up)
    audit_retention_days = 365      # older audit rows are pruned (a checkpoint keeps the chain)
    audit_prune_interval_s = 21600.0
    max_tracked_addresses = 10000   # rate-limit buckets kept in memory

    [alerting.evaluation]           # alert rules (appliance/alerting/settings.py); the
    enabled = true                  # dispatcher's [alerting.dispatch] and [alerting.routing]
    interval_s = 15.0               # are in appliance/alerting/dispatch/settings.py
    history_retention_days = 365.0  # older /api/alerts/history entries are pruned (hourly)
    certificates = ["/etc/sovereign/tls/edge.crt", "/etc/sovereign/tls/ca.crt",
                    "/etc/sovereign/vault/tls/server.crt"]   # tls_cert_days_left

    [tracing]                       # spans, the OTLP receiver (appliance/tracing/settings.py)
    enabled = true                  # trace requests, database, Vault, notifications, events
    sample_ratio = 0.1              # share of new traces kept (a sampled traceparent is kept)
    retention_s = 604800.0          # spans older than this are pruned, and beyond
    max_spans = 200000              # this many the oldest, every prune_interval_s (300)
    # otlp_endpoint = "https://collector:4318/v1/traces"   # also send the agent's spans there
    receiver_enabled = true         # POST /v1/traces, /v1/metrics (operator token)
    max_spans_per_request = 5000
    performance_window_s = 300.0    # window of a service's request rate and percentiles

    [brokermon.kafka]               # the Kafka monitor (appliance/brokermon/settings.py);
    interval_s = 30.0               # with [events] only: sampled this often
    lag_threshold = 1000.0          # KafkaConsumerLag fires beyond (messages, for 2 minutes)
    confirm_end_offsets = true      # end offsets from a fetch too (Tansu's ListOffsets is short)

    [brokermon.latency]             # the end-to-end latency probe; [events] and a database
    interval_s = 5.0                # a probe event this often
    window_s = 300.0                # p50/p95/p99 over this window
    threshold_ms = 200.0            # E2ELatencyHigh fires when p99 is above
    retention_s = 86400.0           # probe rows kept this long, and at most
    max_rows = 50000                # this many

    [sync]                          # Sovereign Sync to a Nextcloud (appliance/sync/settings.py)
    enabled = false                 # the worker and /api/sync; needs the agent's database
    url = "https://cloud.example"   # password_secret's field app_password: the app password;
    user = "appliance"              # identity_secret's field identity: the appliance's age key
    recipients = ["age1…"]          # the operator's age recipients: each can restore alone

    # [events]                      # the event bus; unset: none (see appliance/events/settings.py)
    # bootstrap_servers = "10.99.0.11:9092"
    # outbox_path = "/var/lib/sovereign/events.db"

    [thresholds]                    # appliance/vitals/settings.py
    cpu_warning = 85.0
    cpu_critical = 95.0
    memory_warning = 85.0
    memory_critical = 95.0
    swap_warning = 50.0
    swap_critical = 80.0
    load_per_core_warning = 1.5
    load_per_core_critical = 3.0
    disk_warning = 85.0
    disk_critical = 95.0
    zombie_warning = 5

    [storage_thresholds]            # levels in the storage API (appliance/storage/settings.py)
    quota_warning = 90.0            # dataset used / quota, %
    quota_critical = 95.0
    capacity_notice = 85.0          # pool used / usable size, %: TrueNAS' classes, the first
    capacity_warning = 90.0         # two are level "warning"
    capacity_critical = 95.0
    # a dataset without a quota of its own is judged by [thresholds] disk_warning/critical

    [leak]                          # appliance/vitals/settings.py
    min_samples = 10
    min_growth_bytes = 10485760
    min_growth_ratio = 0.10
    max_processes = 2000
    window_samples = 60
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from appliance.alerting.settings import AlertingSettings
from appliance.brokermon.settings import BrokerMonitorSettings
from appliance.database.settings import DEFAULT_SQLITE_PATH, DatabaseSettings, check_database_url
from appliance.events.settings import EventBusSettings
from appliance.logs.settings import ErrorTrackingSettings, LogsSettings
from appliance.notifications.settings import NotificationSettings
from appliance.secrets.names import check_secret_name
from appliance.secrets.settings import SecretsSettings
from appliance.security.settings import SecuritySettings
from appliance.storage.settings import StorageThresholds
from appliance.sync.settings import SyncSettings
from appliance.totp_settings import TotpSettings
from appliance.tracing.settings import TracingSettings
from appliance.vitals.settings import LeakSettings, VitalsThresholds

DEFAULT_CONFIG_FILE = Path("/etc/sovereign/agent.toml")
CONFIG_FILE_ENV = "APPLIANCE_CONFIG_FILE"


def config_file_path() -> Path:
    """The agent's config file: APPLIANCE_CONFIG_FILE, else /etc/sovereign/agent.toml."""
    named = os.environ.get(CONFIG_FILE_ENV)
    return Path(named) if named else DEFAULT_CONFIG_FILE


class ConfigError(ValueError):
    """The settings cannot be loaded (missing file, invalid value)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="APPLIANCE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    config_file: Path = Field(
        default=DEFAULT_CONFIG_FILE, description="TOML file read at start-up."
    )
    host: str = Field(
        default="127.0.0.1", description="Bind address; a reverse proxy fronts the agent."
    )
    port: int = Field(default=8013, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    postgres_health_dsn: SecretStr | None = Field(
        default=None,
        description="DSN the postgres health check connects with; unset: no such check. "
        "Without a password: see postgres_password_secret.",
    )
    postgres_password_secret: str | None = Field(
        default=None,
        description="Secret whose field `password` is the postgres check's password (given to "
        "the driver apart from the DSN); unset: none, e.g. peer auth over the local socket.",
    )
    secrets: SecretsSettings = Field(default_factory=SecretsSettings)
    totp: TotpSettings | None = Field(
        default=None, description="TOTP second factor; unset: no TOTP service."
    )
    security: SecuritySettings = Field(
        default_factory=SecuritySettings,
        description="Authentication, rate limits, request hygiene and the audit log.",
    )
    notifications: NotificationSettings = Field(
        default_factory=NotificationSettings,
        description="Notification delivery: retries, circuit breaker, dead letter.",
    )
    alerting: AlertingSettings = Field(
        default_factory=AlertingSettings,
        description="Alert rules' evaluation, and the dispatcher's routing and loop.",
    )
    logs: LogsSettings = Field(
        default_factory=LogsSettings, description="The log endpoints: the host's journal."
    )
    errors: ErrorTrackingSettings = Field(
        default_factory=ErrorTrackingSettings,
        description="Error reports to a Sentry-compatible service; off without a DSN secret.",
    )
    tracing: TracingSettings = Field(
        default_factory=TracingSettings,
        description="Traces of the agent's work, and the OTLP receiver for other services.",
    )
    brokermon: BrokerMonitorSettings = Field(
        default_factory=BrokerMonitorSettings,
        description="The Kafka monitor and the end-to-end latency probe (need [events]).",
    )
    sync: SyncSettings = Field(
        default_factory=SyncSettings,
        description="Sovereign Sync: documents age-encrypted to a Nextcloud; off by default.",
    )
    events: EventBusSettings | None = Field(
        default=None,
        description="The event bus on the Kafka API; unset: no bus and no broker check.",
    )
    database_url: str | None = Field(
        default=None,
        description="postgresql://USER@HOST:PORT/DATABASE of the agent's own database, without "
        "a password (see database_password_secret); unset: the embedded SQLite store.",
    )
    database_password_secret: str | None = Field(
        default=None,
        description="Secret whose field `password` is the agent database's password; unset: "
        "none (trust or peer authentication).",
    )
    sqlite_path: Path = Field(
        default=DEFAULT_SQLITE_PATH,
        description="The SQLite store; with database_url set, its history is imported once.",
    )
    sample_interval_s: float = Field(default=5.0, gt=0, le=3600)
    history_size: int = Field(
        default=720, ge=2, le=1_000_000, description="Samples kept in memory."
    )
    history_retention_s: int = Field(
        default=7 * 24 * 3600, ge=60, description="Samples kept in the DB."
    )
    health_interval_s: float = Field(default=15.0, gt=0, le=3600)
    health_timeout_s: float = Field(default=5.0, gt=0, le=300)
    drain_grace_s: float = Field(default=5.0, ge=0, le=300)
    drain_timeout_s: float = Field(default=30.0, ge=0, le=3600)
    switch_interval_ms: float = Field(
        default=0.5,
        gt=0,
        le=100,
        description="How long a thread may hold the interpreter lock while another waits for "
        "it (Python's default: 5 ms). Requests wait for it after every database round trip "
        "while a background thread (sampler, exporter, alerting) computes: a shorter interval "
        "keeps those waits out of the API's tail latency (bench/notifications.py).",
    )
    zfs_backend: Literal["auto", "libzfs", "cli"] = "auto"
    zfs_command_timeout_s: float = Field(default=10.0, gt=0, le=600)
    zfs_pools: list[str] = Field(default_factory=list)
    storage_cache_ttl_s: float = Field(default=10.0, ge=0, le=3600)
    systemd_units: list[str] = Field(
        default_factory=lambda: [
            "sovereign-*",
            "zfs*",
            "postgresql*",
            "openbao*",
            "vault*",
            "nextcloud*",
            "redpanda*",
            "tansu*",
            "nginx*",
        ]
    )
    command_timeout_s: float = Field(default=5.0, gt=0, le=300)
    thresholds: VitalsThresholds = Field(default_factory=VitalsThresholds)
    storage_thresholds: StorageThresholds = Field(
        default_factory=StorageThresholds,
        description="Quota and pool capacity levels (ok / warning / critical) of the storage API.",
    )
    leak: LeakSettings = Field(default_factory=LeakSettings)

    @field_validator("database_url")
    @classmethod
    def _postgres_without_password(cls, value: str | None) -> str | None:
        return check_database_url(value)

    @field_validator("postgres_password_secret", "database_password_secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        return None if value is None else check_secret_name(value)

    @model_validator(mode="after")
    def _totp_needs_cas(self) -> Self:
        # Replay protection stores the last accepted step with check-and-set; only the Vault
        # backend offers that (see appliance/totp.py).
        if self.totp is not None and self.secrets.backend != "vault":
            raise ValueError(
                f"totp needs secrets.backend = 'vault' (got {self.secrets.backend!r}): seeds and "
                "replay state are stored with check-and-set writes"
            )
        return self

    @model_validator(mode="after")
    def _password_secret_needs_url(self) -> Self:
        if self.database_password_secret is not None and self.database_url is None:
            raise ValueError("database_password_secret is set but database_url is not")
        return self

    @property
    def database(self) -> DatabaseSettings:
        """The database keys together (kept top-level: existing agent.toml files use them)."""
        return DatabaseSettings(
            url=self.database_url,
            password_secret=self.database_password_secret,
            sqlite_path=self.sqlite_path,
        )

    @property
    def store_description(self) -> str:
        """Where history goes, safe to log (no credentials)."""
        return self.database.description

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        named = os.environ.get(CONFIG_FILE_ENV)
        path = config_file_path()
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        elif named:
            raise ConfigError(f"{CONFIG_FILE_ENV}={named}: no such file")
        return tuple(sources)


def load_settings() -> Settings:
    """Settings from the environment and the config file, with errors made readable."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigError(f"invalid agent settings: {problems}") from None
    except ValueError as exc:  # TOML syntax errors surface as ValueError subclasses
        raise ConfigError(f"invalid agent settings: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Cached settings for the process; tests override the FastAPI dependency instead."""
    return load_settings()


class _InitOnlySettings(Settings):
    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def validate_config(data: dict[str, object]) -> Settings:
    """Validate a config mapping as the agent would read it from its file, ignoring this
    process's environment and files (the deploy checks the file it is about to render)."""
    return _InitOnlySettings(**data)  # type: ignore[arg-type]
