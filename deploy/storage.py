"""Trial deploy for storage: the base role, then ZFS (backend, pools, datasets)."""

from roles.base import base
from roles.zfs import zfs

base()
zfs()
