"""The local lab as an inventory: the hosts `sovereign lab up` booted (lab from $SOVEREIGN_LAB).

sovereign lab up && sovereign deploy inventory/lab.py && sovereign verify inventory/lab.py

Sync goes to the lab bridge's address, where only tests/lab/test_sync.py runs a server (the
Nextcloud-compatible stand-in, not Nextcloud); elsewhere the agent's sync worker idles.
"""

from sovereign.lab.inventory import current_lab_name, lab_hosts
from sovereign.lab.state import load_state
from tests.lab.inventories.sync_settings import sync_section

_state = load_state(current_lab_name())
lab = [
    (name, {**data, "sync": sync_section(_state.gateway)} if _state and
     data["vault"]["operator_age_recipients"] else data)
    for name, data in lab_hosts()
]  # fmt: skip
