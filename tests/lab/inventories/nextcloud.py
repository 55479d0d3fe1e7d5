"""The lab with the Nextcloud role (tests/lab/test_nextcloud_role.py): a `nextcloud` section
without `server` (no Nextcloud release can be had here), its database and role declared in
`postgres`, its name answered by the edge."""

from sovereign.lab.inventory import lab_hosts
from tests.lab.inventories.nextcloud_settings import NEXTCLOUD_NAME

lab = [
    (
        name,
        {
            **data,
            "postgres": {
                "roles": [{"name": "nextcloud"}],
                "databases": [{"name": "nextcloud", "owner": "nextcloud"}],
            },
            "nextcloud": {"server_names": [NEXTCLOUD_NAME]},
        },
    )
    for name, data in lab_hosts()
]
