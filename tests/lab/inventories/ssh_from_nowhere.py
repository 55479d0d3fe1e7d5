"""The lab with SSH open to nobody: refused before any host is touched."""

from sovereign.lab.inventory import lab_hosts

lab = [(name, {**data, "firewall": {"admin_networks": []}}) for name, data in lab_hosts()]
