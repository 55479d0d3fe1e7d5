"""The edge role's outcome: nginx, hardened, serving HTTPS on the edge port with a certificate
from the appliance CA, the security headers on every answer, every route but /health behind a
token, and plain HTTP redirected (browsers) or refused (credentials)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.conftest import exposure
from tests.infra.expected import (
    APPLIANCE_CA,
    EDGE_CERT,
    EDGE_HEADERS,
    EDGE_KEY,
    EDGE_UNIT,
    EXPOSURE_LIMIT,
    Edge,
    HostData,
    host_ip,
)

pytestmark = pytest.mark.journal(EDGE_UNIT)


@pytest.fixture(scope="module")
def edge(host_data: HostData) -> Edge:
    return Edge.of(host_data)


@pytest.fixture(scope="module")
def address(host_data: HostData) -> str:
    return host_ip(host_data) or "127.0.0.1"


def get(host: Any, url: str, *flags: str) -> tuple[str, dict[str, str], str]:
    """(status, headers by lower-case name, body) of a GET, TLS verified with the CA."""
    out = host.check_output(
        f"curl -s --max-time 10 --cacert {APPLIANCE_CA} -D - {' '.join(flags)} {url}"
    )
    head, _, body = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0].split()[1], headers, body


def test_unit_running_and_enabled(host: Any) -> None:
    service = host.service(EDGE_UNIT)
    assert service.is_running
    assert service.is_enabled


def test_listens_on_the_edge_ports(host: Any, edge: Edge) -> None:
    for address in edge.listen:
        for port in edge.ports:
            assert host.socket(f"tcp://{address}:{port}").is_listening


def test_certificate_from_the_appliance_ca(host: Any) -> None:
    assert host.run(f"openssl verify -CAfile {APPLIANCE_CA} {EDGE_CERT}").rc == 0
    key = host.file(EDGE_KEY)
    assert (key.user, key.group, key.mode) == ("root", "root", 0o600)


def test_health_over_tls_verified_by_address(host: Any, edge: Edge, address: str) -> None:
    status, _, body = get(host, f"{edge.url(address)}/health")
    assert status == "200", body


def test_health_answered_from_the_edge_cache(host: Any, edge: Edge, address: str) -> None:
    """Back to back, the second answer comes from the edge (a HIT, or a kept answer being
    refreshed), each with its own request id; with the cache off, every one reaches the agent."""
    url = f"{edge.url(address)}/health"
    answers = [get(host, url) for _ in range(2)]
    assert [status for status, _, _ in answers] == ["200", "200"]
    first, second = (headers for _, headers, _ in answers)
    assert first["x-request-id"] != second["x-request-id"]
    if edge.health_cache_s:
        assert second.get("x-edge-cache") in {"HIT", "STALE", "UPDATING"}, second
    else:
        assert "x-edge-cache" not in second


@pytest.mark.parametrize("path", ["/health", "/api/storage/pools", "/nowhere"])
@pytest.mark.parametrize(("header", "value"), sorted(EDGE_HEADERS.items()))
def test_security_headers_on_every_answer(
    host: Any, edge: Edge, address: str, path: str, header: str, value: str
) -> None:
    _, headers, _ = get(host, f"{edge.url(address)}{path}")
    want = value if header != "strict-transport-security" else f"max-age={edge.hsts_max_age_s}"
    assert headers.get(header) == want


def test_routes_need_a_token(host: Any, edge: Edge, address: str, viewer_header: str) -> None:
    assert get(host, f"{edge.url(address)}/api/storage/pools")[0] == "401"
    status, _, body = get(host, f"{edge.url(address)}/api/storage/pools", "-H", f"@{viewer_header}")
    assert status == "200", body


def test_plain_http(host: Any, edge: Edge, address: str) -> None:
    if edge.http == "off":
        assert not host.socket(f"tcp://0.0.0.0:{edge.http_port}").is_listening
        return
    base = f"http://{address}:{edge.http_port}"
    write = "-w '%{http_code} %{redirect_url}'"
    out = host.check_output(f"curl -s -o /dev/null {write} {base}/health")
    status, target = out.split(" ", 1)
    suffix = "" if edge.port == 443 else f":{edge.port}"
    assert (status, target) == ("301", f"https://{address}{suffix}/health")
    with_token = host.check_output(
        f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Authorization: Bearer x' {base}/health"
    )
    assert with_token == "403"


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
    ],
)
def test_unit_hardened(host: Any, prop: str, value: str) -> None:
    assert host.check_output(f"systemctl show -p {prop} --value {EDGE_UNIT}") == value


def test_exposure_below_the_limit(host: Any) -> None:
    assert exposure(host, EDGE_UNIT) < EXPOSURE_LIMIT
