"""Settings of the snapshots role (host data key `snapshots`): a policy per dataset.

    snapshots = {
        "datasets": {
            "tank/nextcloud": {"use_template": "frequent", "frequently": 4},
            "tank/scratch": {"use_template": "none"},
        },
    }

Every dataset of `storage.datasets` has a policy by default, chosen by its kind (the last
part of its name, see DEFAULT_TEMPLATES); a declared one overrides it. The values are
sanoid's (appliance/backup/policy.py), the agent's own model, validated once here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.backup.policy import PolicyDeclaration, SnapshotConfig, TemplateName
from roles.settings import RoleSettingsError, format_validation_error
from roles.zfs.settings import StorageSettings

# By the last part of a dataset's name: files and the database change by the minute, and so
# does `backups` (pgBackRest's WAL archive, raft snapshots: the host's own backups, which only
# its snapshots carry to the backup host); replicas (`replicas`) are pruned, not taken; scratch
# space is left alone.
DEFAULT_TEMPLATES: dict[str, TemplateName] = {
    "nextcloud": "frequent",
    "postgres": "frequent",
    "vault": "production",
    "agent": "production",
    "backups": "frequent",
    "replicas": "backup",
    "scratch": "none",
    "tmp": "none",
    "cache": "none",
}


def default_template(dataset: str) -> TemplateName:
    return DEFAULT_TEMPLATES.get(dataset.rsplit("/", 1)[-1], "production")


class SnapshotSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Take and prune snapshots on a timer.")
    datasets: dict[str, PolicyDeclaration] = Field(
        default_factory=dict,
        description="Dataset → policy (use_template + sanoid's counts); every dataset of "
        "`storage.datasets` has its kind's default unless declared here.",
    )

    def config(self) -> SnapshotConfig:
        """The runner's file: each dataset's resolved policy."""
        return SnapshotConfig(datasets={n: d.resolve() for n, d in sorted(self.datasets.items())})


def resolve_snapshots(
    raw: Mapping[str, Any] | None, storage: StorageSettings | None, host_name: str
) -> SnapshotSettings:
    """`snapshots` with a default policy for every declared dataset; a policy for a dataset
    the storage does not declare (nor a pool's root) is refused, naming it."""
    try:
        declared = SnapshotSettings.model_validate(raw or {})
    except ValidationError as exc:
        raise RoleSettingsError(
            f"host {host_name}: invalid `snapshots` settings:\n"
            f"{format_validation_error('snapshots', exc)}"
        ) from None
    if storage is None:  # storage is invalid itself and reported on its own
        return declared
    known = {d.name for d in storage.datasets} | {p.name for p in storage.pools}
    unknown = sorted(set(declared.datasets) - known)
    if unknown:
        raise RoleSettingsError(
            f"host {host_name}: invalid `snapshots` settings:\n"
            + "\n".join(
                f"  snapshots.datasets.{name}: not a dataset or pool of `storage`"
                for name in unknown
            )
        )
    policies = {
        d.name: PolicyDeclaration(use_template=default_template(d.name)) for d in storage.datasets
    }
    return declared.model_copy(update={"datasets": {**policies, **declared.datasets}})
