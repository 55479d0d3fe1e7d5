"""The lab with its pool re-declared as raidz1 over five disks: the deploy must refuse."""

from sovereign.lab.inventory import lab_hosts

lab = [
    (
        name,
        {
            **data,
            "storage": {
                "pools": [{"name": "tank", "layout": "raidz1", "disks": data["lab_disks"][:5]}]
            },
        },
    )
    for name, data in lab_hosts()
]
