"""The lab with SSH open only to a network the controller is not in (TEST-NET-1): the deploy
must refuse the firewall that would lock it out, and change nothing."""

from sovereign.lab.inventory import lab_hosts

ADMIN_NETWORK = "192.0.2.0/24"

lab = [
    (name, {**data, "firewall": {"admin_networks": [ADMIN_NETWORK]}}) for name, data in lab_hosts()
]
