"""Trial deploy for storage: the base role, then ZFS (backend, pools, datasets)."""

from roles.base import base
from roles.connection import send_without_delay
from roles.spec import current_host_spec
from roles.zfs import zfs

send_without_delay()  # ~50 ms less per remote command
spec = current_host_spec()
base(spec=spec)
zfs(spec=spec)
