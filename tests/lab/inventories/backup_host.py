"""A lab of an appliance and a plain backup host: the first sends its datasets to the second,
which is `kind = "backup"` (base, SSH-only firewall, ZFS, the receiving side; nothing of the
appliance) and carries only its connection and lab facts."""

from sovereign.lab.inventory import lab_hosts

_KEPT = ("lab", "lab_disks", "zfs_backend")

hosts = lab_hosts()
source, target = hosts[0][0], hosts[1][0]
lab = [
    (name, {**data, "replication": {"target": target}})
    if name == source
    else (
        name,
        {
            "kind": "backup",
            **{k: v for k, v in data.items() if k.startswith("ssh_") or k in _KEPT},
        },
    )
    for name, data in hosts
]
