"""Pure rendering for the snapshots role: the runner's policy file from the host spec."""

from __future__ import annotations

import tomli_w

from roles.snapshots.settings import SnapshotSettings

CONFIG_FILE = "/etc/sovereign/snapshots.toml"
HEADER = (
    "# Managed by Sovereign Appliance (roles/snapshots): each dataset's snapshot policy,\n"
    "# read by `python -m appliance.backup snapshots` (sovereign-snapshots.timer).\n"
)


def config_text(settings: SnapshotSettings) -> str:
    """snapshots.toml: every dataset's resolved policy, keys sorted so a re-render is equal."""
    return HEADER + tomli_w.dumps(settings.config().model_dump(mode="json"))
