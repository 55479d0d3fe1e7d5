"""Backups on the host: ZFS snapshot policies (sanoid's vocabulary), their pure plan, the
listing parser and the runner `python -m appliance.backup snapshots` a systemd timer starts.

policy (the settings model, shared with roles/snapshots) → snapshot_plan (pure decisions) →
listing (the `zfs get` command and its parser) → runner (runs the plan with appliance.command).
"""
