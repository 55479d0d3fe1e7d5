"""``[logs]`` of agent.toml: how the log endpoints read the host's journal."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


def _default_services() -> dict[str, list[str]]:
    return {
        "agent": ["sovereign-agent.service"],
        "postgresql": ["postgresql@*.service"],
        "vault": ["vault.service"],
        "broker": ["tansu.service", "redpanda.service"],
        "zfs": ["zfs-fuse.service", "zfs-*.service"],
        "edge": ["nginx.service"],
        "backups": ["sovereign-snapshots.service", "sovereign-replication.service",
                    "sovereign-pgbackrest-*.service", "sovereign-vault-snapshot.service"],
        "firewall": ["sovereign-firewall.service", "nftables.service"],
        "mail": ["postfix@-.service", "postfix.service"],
    }  # fmt: skip


class LogsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Serve /api/logs from the journal.")
    journalctl: str = Field(default="journalctl", description="The journalctl to run.")
    directory: str | None = Field(
        default=None,
        description="Read the journal files of this directory instead of the system journal "
        "(journalctl --directory): a copied journal, or tests.",
    )
    budget_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="The most one request may spend reading; a search that has not filled its "
        "page by then answers what it found, with `complete: false` and a cursor to go on.",
    )
    search_workers: int = Field(
        default=0,
        ge=0,
        le=16,
        description="A text search is split into this many time windows searched side by "
        "side; 0: one per CPU, at most 4.",
    )
    max_limit: int = Field(default=500, ge=1, le=5000, description="The largest page.")
    services: dict[str, list[str]] = Field(
        default_factory=_default_services,
        description="Service names the endpoints take, each the units (globs allowed) it "
        "stands for; any other name is taken as a unit name.",
    )


class ErrorTrackingSettings(BaseModel):
    """``[errors]``: reports of the agent's unhandled errors to a Sentry-compatible service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dsn_secret: str | None = Field(
        default=None,
        description="The secret whose field `dsn` is the service's DSN (Vault on the "
        "appliance: `sovereign vault put-secret INVENTORY agent/sentry`); unset: off.",
    )
    environment: str = Field(default="appliance", max_length=64)
    sample_rate: float = Field(default=1.0, ge=0, le=1, description="Share of errors sent.")
    ca_bundle: Path | None = Field(
        default=None, description="CA certificates the service's TLS is checked against."
    )
    include_local_variables: bool = Field(
        default=False,
        description="Send stack frames' local variables (scrubbed; a value of unknown shape "
        "under an innocent name would go as it is, so off by default).",
    )
