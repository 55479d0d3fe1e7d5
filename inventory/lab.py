"""The local lab as an inventory: the hosts `sovereign lab up` booted (lab from $SOVEREIGN_LAB).

sovereign lab up && sovereign deploy inventory/lab.py && sovereign verify inventory/lab.py

Sync goes to the lab bridge's address, where only tests/lab/test_sync.py runs a server (the
Nextcloud-compatible stand-in, not Nextcloud); elsewhere the agent's sync worker idles.
"""

from sovereign.lab.sync_standin import lab_hosts_with_sync

lab = lab_hosts_with_sync()
