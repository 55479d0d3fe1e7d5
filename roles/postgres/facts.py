"""Facts of the PostgreSQL role: one command reads clusters, roles, databases and secrets."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase

SECRETS_DIR = "/etc/sovereign/secrets/postgres"
MARK = "@@sovereign-pg@@"
# A password moved into Vault (roles/vault) leaves this marker in place of its file.
MOVED_SUFFIX = ".in-vault"


def parse_pg_state(lines: list[str]) -> dict[str, Any]:
    """Parse the sections the PgState command prints (pure; tested on captured output)."""
    state: dict[str, Any] = {
        "installed": False, "clusters": [], "roles": None, "databases": None, "secrets": [],
    }  # fmt: skip
    section = None
    rows: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith(MARK):
            section = line[len(MARK) :].strip()
            rows[section] = []
            continue
        if section is not None and line.strip():
            rows[section].append(line.rstrip("\n"))
    if "clusters" not in rows:
        return state  # postgresql-common not installed
    state["installed"] = True
    for row in rows["clusters"]:
        parts = row.split()
        if len(parts) >= 6:
            state["clusters"].append({
                "version": int(parts[0]), "name": parts[1], "port": int(parts[2]),
                "status": parts[3], "owner": parts[4], "data_dir": parts[5],
            })  # fmt: skip
    for key in ("roles", "databases"):
        if key in rows and "!error" not in rows[key]:
            state[key] = dict(r.split("|", 1) for r in rows[key] if "|" in r)
    state["secrets"] = sorted({name.removesuffix(MOVED_SUFFIX) for name in rows.get("secrets", [])})
    return state


class PgState(FactBase[dict[str, Any]]):
    """Clusters (pg_lsclusters), roles → can-login ('t'/'f'), databases → owner, and which
    roles have a generated password file. roles/databases are None when the server is down."""

    @staticmethod
    def default() -> dict[str, Any]:
        return parse_pg_state([])

    def command(self, port: int) -> str:
        # One psql for both queries, the newest client binary itself: /usr/bin/psql is
        # pg_wrapper (Perl), which picks that same binary at ~30 ms a call. A server that does
        # not answer marks both sections '!error'.
        both = (
            "(cd / && runuser -u postgres --"  # noqa: S608 - fixed SQL, an int port
            ' "$(ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -n 1)"'
            f" -X -A -t -F '|' -v ON_ERROR_STOP=1 -p {int(port)} -d postgres"
            ' -c "select rolname, rolcanlogin from pg_roles"'
            f" -c '\\echo {MARK}databases'"
            ' -c "select datname, pg_get_userbyid(datdba) from pg_database")'
        )
        return (
            "command -v pg_lsclusters >/dev/null || exit 0; "
            f"echo '{MARK}clusters'; pg_lsclusters --no-header; "
            f"echo '{MARK}roles'; {both} 2>/dev/null"
            f" || {{ echo '!error'; echo '{MARK}databases'; echo '!error'; }}; "
            f"echo '{MARK}secrets'; ls -1 {SECRETS_DIR} 2>/dev/null || true"
        )

    def process(self, output: list[str]) -> dict[str, Any]:
        return parse_pg_state(output)


class MemTotalMb(FactBase[int]):
    """Total memory in MiB from /proc/meminfo (no procps needed)."""

    def command(self) -> str:
        return "awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo"

    def process(self, output: list[str]) -> int:
        return int(output[0])
