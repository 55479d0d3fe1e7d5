"""The agent's records as structured journal entries: the native protocol's encoding, a
real datagram socket standing where journald's is, and the request id and token name a
request's records carry (set by the API's own middleware and authentication)."""

from __future__ import annotations

import logging
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import Depends

from api.auth import require
from appliance.logs.journald import JournalHandler, encode, journal_wanted
from appliance.security.roles import Role
from tests.unit.api.conftest import Agent


def decode(data: bytes) -> dict[str, str]:
    """journald's side of encode()."""
    fields: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            name, _, value = line.partition(b"=")
            fields[name.decode()] = value.decode()
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            fields[line.decode()] = rest[8 : 8 + size].decode()
            data = rest[8 + size + 1 :]
    return fields


@pytest.fixture
def journal_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(5)
    yield server, path
    server.close()


def test_values_with_newlines_are_sent_with_their_length() -> None:
    data = encode({"MESSAGE": "two\nlines", "PRIORITY": "3"})
    assert decode(data) == {"MESSAGE": "two\nlines", "PRIORITY": "3"}
    assert b"PRIORITY=3\n" in data and b"MESSAGE\n" + struct.pack("<Q", 9) in data


def test_a_record_arrives_with_its_fields(journal_socket: tuple[socket.socket, str]) -> None:
    server, path = journal_socket
    logger = logging.getLogger("sovereign.test.journald")
    handler = JournalHandler(path)
    logger.addHandler(handler)
    try:
        logger.error("pool %s degraded", "tank")
    finally:
        logger.removeHandler(handler)
        handler.close()
    fields = decode(server.recv(65536))
    assert fields["MESSAGE"] == "pool tank degraded" and fields["PRIORITY"] == "3"
    assert fields["SYSLOG_IDENTIFIER"] == "sovereign-agent"
    assert fields["LOGGER"] == "sovereign.test.journald" and fields["CODE_FILE"].endswith(".py")
    assert "REQUEST_ID" not in fields and "USER" not in fields  # not inside a request


def test_a_requests_records_carry_its_id_and_token_name(
    journal_socket: tuple[socket.socket, str], agent_with: Callable[..., Agent]
) -> None:
    server, path = journal_socket
    agent = agent_with()
    logger = logging.getLogger("sovereign.test.request")
    logger.setLevel(logging.INFO)

    @agent.app.get("/_test/log", dependencies=[Depends(require(Role.VIEWER))])
    def log_something() -> dict[str, bool]:  # a plain def: logged from the threadpool
        logger.info("inside the request")
        return {"ok": True}

    handler = JournalHandler(path)
    logger.addHandler(handler)
    try:
        response = agent.send(
            "GET", "/_test/log", agent.tokens["operator"], headers={"X-Request-ID": "req-12345678"}
        )
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert response.status_code == 200
    fields = decode(server.recv(65536))
    assert fields["MESSAGE"] == "inside the request"
    assert fields["REQUEST_ID"] == "req-12345678"
    assert fields["USER"] == "test-operator"


def test_the_journal_is_used_only_when_systemd_connected_it(tmp_path: Path) -> None:
    present = tmp_path / "socket"
    present.touch()
    assert journal_wanted({"JOURNAL_STREAM": "8:1234"}, str(present))
    assert not journal_wanted({}, str(present))
    assert not journal_wanted({"JOURNAL_STREAM": "8:1234"}, str(tmp_path / "absent"))
