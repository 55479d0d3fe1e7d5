"""Trial deploy for storage: the base role, then ZFS (backend, pools, datasets)."""

from roles.base import base
from roles.spec import current_host_spec
from roles.zfs import zfs

spec = current_host_spec()
base(spec=spec)
zfs(spec=spec)
