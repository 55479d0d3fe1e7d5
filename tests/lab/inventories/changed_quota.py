"""The lab with one dataset quota changed (tank/agent: 2 % of the pool → 64M): a dry run must
list exactly that change, and change nothing."""

from roles.zfs.settings import default_datasets
from sovereign.lab.sync_standin import lab_hosts_with_sync
from tests.lab.quota_change import DATASET, QUOTA

_datasets = [
    {**d.model_dump(exclude_none=True), **({"quota": QUOTA} if d.name == DATASET else {})}
    for d in default_datasets("tank")
]

lab = [(name, {**data, "storage": {"datasets": _datasets}}) for name, data in lab_hosts_with_sync()]
