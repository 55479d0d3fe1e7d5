"""Storage monitor: ZFS pools and datasets, on OpenZFS or zfs-fuse, via py-libzfs or the CLI."""
