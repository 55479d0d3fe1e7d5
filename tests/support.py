"""Helpers the test suites share: free ports, polling, real binaries from the artifact cache,
a throwaway PostgreSQL 15 cluster."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller import artifacts

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    condition: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def cached_binary(name: str) -> Path:
    """A vendor binary (`bao`, `tansu`) from the verified artifact cache, fetched if missing."""
    directory = artifacts.default_dir()
    try:
        return artifacts.verify(directory, name)
    except artifacts.ArtifactError:
        artifacts.fetch(directory, [name])
        return artifacts.verify(directory, name)


@dataclass(frozen=True)
class PostgresServer:
    """A running cluster: superuser ``postgres`` over its Unix socket (trust); every role over
    TCP on 127.0.0.1 with a SCRAM password."""

    port: int
    socket_dir: Path
    #: pg_ctl with its data directory, and the start options: stop() and start() make an outage.
    pg_ctl: tuple[str, ...] = ()
    options: str = ""

    def stop(self) -> None:
        subprocess.run([*self.pg_ctl, "-m", "immediate", "-w", "stop"], check=True,
                       capture_output=True)  # fmt: skip

    def start(self) -> None:
        subprocess.run([*self.pg_ctl, "-o", self.options, "-w", "start"], check=True,
                       capture_output=True)  # fmt: skip

    def superuser_dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@/{dbname}?host={self.socket_dir}&port={self.port}"

    def tcp_url(self, user: str, dbname: str) -> str:
        """No password in it: the client gives it apart (or is refused)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def execute(self, statement: Any, dbname: str = "postgres") -> None:
        """One statement as the superuser, outside a transaction (CREATE DATABASE…)."""
        import psycopg

        with psycopg.connect(self.superuser_dsn(dbname), autocommit=True) as conn:
            conn.execute(statement)

    def create_role(self, name: str, password: str) -> None:
        from psycopg import sql

        self.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )

    def create_database(self, name: str, owner: str = "postgres") -> None:
        from psycopg import sql

        self.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """initdb + pg_ctl in a temp dir on a free port, as ``postgres`` when run as root (initdb
    refuses root); stopped and removed afterwards. Skips the test without the binaries."""
    import pytest

    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"PostgreSQL 15 binaries not found in {PG_BIN}")
    pytest.importorskip("psycopg", reason="psycopg 3 not installed")
    tmp = Path(tempfile.mkdtemp(prefix="test-pg-"))
    data, sock_dir = tmp / "data", tmp / "sock"
    sock_dir.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        os.chown(sock_dir, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres"]
    auth = ["--auth-local=trust", "--auth-host=scram-sha-256"]
    subprocess.run([*prefix, *initdb, *auth], check=True, capture_output=True)
    port = free_port()
    opts = f"-p {port} -k {sock_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-o", opts, "-w", "-l", str(tmp / "log"), "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield PostgresServer(port, sock_dir, (*pg_ctl, "-l", str(tmp / "log")), opts)
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
