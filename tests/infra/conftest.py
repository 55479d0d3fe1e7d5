"""testinfra suite: checks the provisioned state of each host against its inventory data.

Run through `sovereign verify INVENTORY`, which passes --hosts/--ssh-config and sets
SOVEREIGN_INVENTORY so that each check compares with what the inventory declared.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from sovereign.inventory import InventoryHost, load_inventory


@pytest.fixture(scope="session")
def inventory_hosts() -> dict[str, InventoryHost]:
    path = os.environ.get("SOVEREIGN_INVENTORY")
    if not path:
        pytest.fail("SOVEREIGN_INVENTORY is not set: run this suite with `sovereign verify`")
    return {h.name: h for h in load_inventory(path)}


@pytest.fixture
def host_data(host: Any, inventory_hosts: dict[str, InventoryHost]) -> dict[str, Any]:
    """The inventory data of the host under test."""
    name = host.backend.hostname
    if name not in inventory_hosts:
        pytest.fail(f"host {name} is not in the inventory")
    return inventory_hosts[name].data


@pytest.fixture
def host_name(host: Any) -> str:
    return str(host.backend.hostname)
