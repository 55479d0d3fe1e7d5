"""The shell commands `sovereign rebuild` runs on the hosts (pure: built from names and
settings, quoted; nothing secret passes through any of them, the seal key goes on stdin)."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from appliance.backup.listing import list_command

ABSENT = "@@absent@@"
FILES = "@@files@@"


def listing_command(dataset: str) -> str:
    """The dataset's snapshot listing, or ABSENT when there is no such dataset (or no ZFS)."""
    listing = shlex.join(list_command(dataset))
    return f"command -v zfs >/dev/null && {listing} 2>/dev/null || echo {ABSENT}"


def probe_command(dataset: str) -> str:
    """The listing, then FILES when the dataset's mounted directory holds anything."""
    ds = shlex.quote(dataset)
    return (
        f"{listing_command(dataset)}; "
        f'm=$(zfs get -H -o value mountpoint {ds} 2>/dev/null) && [ -d "$m" ] && '
        f'[ -n "$(ls -A "$m")" ] && echo {FILES}; true'
    )


def split_probe(output: str) -> tuple[str | None, bool]:
    """(listing or None when absent, has files) from probe_command's output."""
    lines = output.splitlines()
    has_files = FILES in lines
    body = "\n".join(line for line in lines if line != FILES)
    return (None if ABSENT in lines else body), has_files


def destroy_fresh_command(dataset: str) -> str:
    """Remove an empty, never snapshotted dataset a deploy just made (zfs-fuse may say "busy"
    once: unmount first, retry)."""
    ds = shlex.quote(dataset)
    return (
        f"for i in 1 2 3 4 5; do zfs unmount {ds} 2>/dev/null; "
        f"zfs destroy {ds} && exit 0; sleep 1; done; exit 1"
    )


def destroy_forced_command(dataset: str) -> str:
    """--force: the host's own copy goes, snapshots and all."""
    ds = shlex.quote(dataset)
    return (
        f"for i in 1 2 3 4 5; do zfs unmount {ds} 2>/dev/null; "
        f"zfs destroy -r {ds} && exit 0; sleep 1; done; exit 1"
    )


def send_command(source: str) -> str:
    return shlex.join(["zfs", "send", source])


def receive_command(dataset: str) -> str:
    """Into a dataset that does not exist (never -F: nothing on the host is rolled back)."""
    return shlex.join(["zfs", "receive", dataset])


def seal_key_command(path: str) -> str:
    """Write the seal key from stdin, root-only; the vault role gives it to its group."""
    where = shlex.quote(path)
    parent = shlex.quote(path.rsplit("/", 1)[0])
    return (
        f"install -d -m 755 {parent} && (umask 077 && cat > {where}.new) && "
        f"chmod 400 {where}.new && mv {where}.new {where}"
    )


def pg_target_options(at: datetime | None) -> list[str]:
    """pgBackRest's recovery target: the end of the archived WAL, or a point in time."""
    if at is None:
        return []
    when = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S+00")
    return ["--type=time", f"--target={when}", "--target-action=promote"]


def postgres_restore_script(
    version: int, cluster: str, cluster_dir: str, port: int, stanza: str, at: datetime | None
) -> str:
    """Restore the cluster from pgBackRest (the repository came back with tank/backups) and
    let it replay the archived WAL to its end (or `at`) and promote itself.

    The received copy of the cluster moves aside first (kept until the rebuild succeeded);
    Debian's pg_createcluster adopts a data directory only with its configuration files in
    it, which a pgBackRest backup of a Debian cluster does not hold (they live in /etc): the
    package's samples go in, the postgres role's deploy configures the rest."""
    d = shlex.quote(cluster_dir)
    share = f"/usr/share/postgresql/{int(version)}"
    restore = shlex.join(
        ["runuser", "-u", "postgres", "--", "pgbackrest", f"--stanza={stanza}",
         *pg_target_options(at), "restore"]
    )  # fmt: skip
    own = "-o postgres -g postgres"
    psql = f"runuser -u postgres -- psql -XAt -p {int(port)} -d postgres"
    return "\n".join([
        "set -eu",
        "cd /",
        f"if [ -e {d} ]; then rm -rf {d}.received; mv {d} {d}.received; fi",
        f"install -d -o postgres -g postgres -m 700 {d}",
        restore,
        f"install {own} -m 644 {share}/postgresql.conf.sample {d}/postgresql.conf",
        f"install {own} -m 640 {share}/pg_ident.conf.sample {d}/pg_ident.conf",
        f"echo 'local all postgres peer' > {d}/pg_hba.conf",
        f"chown postgres:postgres {d}/pg_hba.conf && chmod 640 {d}/pg_hba.conf",
        shlex.join(["pg_createcluster", str(int(version)), cluster, "-d", cluster_dir,
                    "-p", str(int(port)), "--start-conf=auto"]),
        f"pg_ctlcluster {int(version)} {shlex.quote(cluster)} start",
        "for i in $(seq 1 600); do",
        f"  r=$({psql} -c 'select pg_is_in_recovery()' 2>/dev/null || true)",
        '  [ "$r" = f ] && break',
        "  sleep 1",
        "done",
        '[ "$r" = f ] || { echo "PostgreSQL did not finish its recovery in 600 s" >&2; exit 1; }',
        f"{psql} -c 'select pg_current_wal_lsn(), now()'",
        # Stopped cleanly: the deploy starts it with its own settings (archiving, TLS, …).
        f"pg_ctlcluster {int(version)} {shlex.quote(cluster)} stop",
    ])  # fmt: skip


def first_backups_command(units: list[str]) -> str:
    """The rebuilt host's first backups (a new full one after a restore, a raft snapshot):
    the deploy takes them only on a host that never had any, and their state files, which
    the agent and verify read, were on the lost root file system."""
    return " && ".join(f"systemctl start {shlex.quote(unit)}" for unit in units) or "true"


def cleanup_command(cluster_dir: str) -> str:
    return f"rm -rf {shlex.quote(cluster_dir)}.received"
