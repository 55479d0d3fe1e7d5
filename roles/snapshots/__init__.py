"""Snapshots role: the appliance's own snapshot policy engine on a systemd timer."""
