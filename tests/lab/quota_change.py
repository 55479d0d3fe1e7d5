"""The one quota the changed-quota inventory alters. Kept apart from the inventory module because
that module reads the lab's state when imported, and test collection must not need a lab."""

DATASET = "tank/agent"
QUOTA = "64M"
