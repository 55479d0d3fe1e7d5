"""The replication lab: two hosts, the first sending its datasets to the second."""

from sovereign.lab.inventory import lab_hosts

hosts = lab_hosts()
source, target = hosts[0][0], hosts[1][0]
lab = [
    (name, {**data, "replication": {"target": target}} if name == source else data)
    for name, data in hosts
]
