"""What each host needs from the artifact cache, computed from its inventory data alone.

`sovereign deploy` checks these before pyinfra connects anywhere, so a missing or tampered
artifact stops the deploy before any host is touched.
"""

from __future__ import annotations

from typing import Any

from roles.broker.settings import BrokerSettings
from roles.settings import parse_settings


def required_artifacts(host_name: str, data: dict[str, Any]) -> set[str]:
    """Artifacts the host needs; raises RoleSettingsError naming a bad field."""
    needed: set[str] = set()
    broker = parse_settings(BrokerSettings, "broker", data.get("broker"), host_name)
    if broker.flavour == "tansu":
        needed.add("tansu")
    elif broker.redpanda_source == "artifact":
        needed.add("redpanda.deb")
    return needed
