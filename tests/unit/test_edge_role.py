"""The edge role's nginx site rendered from the host spec: HTTPS in front of the loopback
agent, its headers, limits and timeouts, and what plain HTTP gets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api.util import get_template

from roles.edge import HERE
from roles.edge.plan import render_args, upstream
from roles.settings import RoleSettingsError
from roles.spec import HostSpec, parse_host_spec

ALL_V4 = "0.0.0.0"  # noqa: S104 - what an inventory may write
DISKS = {"storage": {"disks": [f"/dev/disk/by-id/d{n}" for n in range(6)]}}


def spec(**data: Any) -> HostSpec:
    return parse_host_spec("nas1", {"ssh_hostname": "10.99.0.11", **DISKS, **data})


def site(**data: Any) -> str:
    args = render_args(spec(**data), "/etc/sovereign/tls/edge.crt", "/etc/sovereign/tls/edge.key")
    return str(get_template(str(Path(HERE) / "sovereign-edge.conf.j2")).render(args))


def server_blocks(text: str) -> list[str]:
    return re.split(r"\n(?=server \{)", text)[1:]


def test_https_in_front_of_the_loopback_agent() -> None:
    text = site()
    assert "server 127.0.0.1:8013;" in text
    assert "keepalive 32;" in text and "keepalive_timeout 4s;" in text  # < uvicorn's 5 s
    assert "listen 0.0.0.0:443 ssl default_server;" in text
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "ssl_certificate /etc/sovereign/tls/edge.crt;" in text
    assert "server_tokens off;" in text


def test_the_client_is_handed_to_the_agent_and_nothing_the_client_wrote() -> None:
    text = site()
    proxied = text.count("proxy_pass http://sovereign_agent;")
    assert proxied == 4  # the API, the cached /health, the WebSocket and /docs
    assert text.count("proxy_set_header X-Forwarded-For $remote_addr;") == proxied
    assert "$proxy_add_x_forwarded_for" not in text
    assert text.count("proxy_set_header X-Real-IP $remote_addr;") == proxied
    assert "proxy_set_header X-Request-ID $request_id;" in text
    assert 'proxy_set_header Connection "";' in text and "proxy_http_version 1.1;" in text


@pytest.mark.parametrize(
    "header",
    [
        'Strict-Transport-Security "max-age=31536000" always',
        'X-Content-Type-Options "nosniff" always',
        'X-Frame-Options "DENY" always',
        'Referrer-Policy "no-referrer" always',
        "Content-Security-Policy \"default-src 'none'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'\" always",
    ],
)
def test_security_headers_on_every_https_answer(header: str) -> None:
    https = server_blocks(site())[-1]
    server_level = https.split("location")[0]
    assert f"add_header {header};" in server_level


def test_docs_keep_every_header_with_their_own_csp() -> None:
    docs = site().split("location = /docs")[1]
    assert docs.count("add_header") == 7  # nginx drops inherited headers where a block adds its own
    assert "script-src https://cdn.jsdelivr.net 'unsafe-inline'" in docs


def test_health_is_answered_from_a_short_cache_of_healthy_answers_only() -> None:
    text = site()
    assert "proxy_cache_path /var/lib/nginx/sovereign-health " in text  # the unit may write there
    health = text.split("location = /health {")[1].split("}")[0]
    assert "proxy_cache sovereign_health;" in health
    assert "proxy_cache_valid 200 1s;" in health and "503" not in health.split("#")[0]
    assert 'proxy_cache_key "health";' in health  # query strings cannot bust it
    assert "proxy_cache_use_stale updating;" in health
    # No background refresh: a failing one would keep serving the old 200 while the agent is
    # down (found by the lab tests: the edge said healthy while the agent was starting).
    assert "proxy_cache_background_update" not in health
    assert "proxy_read_timeout 5s;" in health and "proxy_cache_lock_timeout 5s;" in health
    # Each answer has its own request id and all the security headers (a block that adds a
    # header inherits none of the server's).
    assert "proxy_hide_header X-Request-ID;" in health
    assert "add_header X-Request-ID $request_id always;" in health
    assert health.count("add_header") == 9


def test_health_cache_off() -> None:
    text = site(edge={"health_cache_s": 0})
    assert "proxy_cache" not in text and "location = /health" not in text
    assert text.count("proxy_pass http://sovereign_agent;") == 3


def test_body_limit_and_timeouts_follow_the_agent() -> None:
    assert "client_max_body_size 65536;" in site()
    text = site(agent={"config": {"security": {"max_body_bytes": 2048}}},
                edge={"read_timeout_s": 30, "connect_timeout_s": 2})  # fmt: skip
    assert "client_max_body_size 2048;" in text
    assert "proxy_read_timeout 30s;" in text and "proxy_connect_timeout 2s;" in text
    assert '"reason": "request body larger than 2048 bytes"' in text


def test_plain_http_redirects_browsers_and_refuses_credentials() -> None:
    http = server_blocks(site())[0]
    assert "listen 0.0.0.0:80 default_server;" in http
    assert "return 301 https://$host$request_uri;" in http
    assert "if ($http_authorization)" in http and "return 403" in http
    assert "proxy_pass" not in http


def test_plain_http_off_and_other_ports() -> None:
    text = site(edge={"http": "off", "port": 8443, "listen_addresses": [ALL_V4, "::"]})
    assert len(server_blocks(text)) == 1
    assert "listen [::]:8443 ssl default_server;" in text
    redirect = site(edge={"port": 8443})
    assert "return 301 https://$host:8443$request_uri;" in redirect


def test_agent_on_another_address_is_still_the_upstream() -> None:
    assert upstream(spec(agent={"listen_address": "10.99.0.11"})) == "10.99.0.11:8013"
    assert upstream(spec(agent={"listen_address": ALL_V4, "port": 9000})) == "127.0.0.1:9000"


@pytest.mark.parametrize(
    ("edge", "field"),
    [
        ({"http_port": 443}, "edge"),
        ({"server_names": ["10.0.0.1"]}, r"edge\.server_names"),
        ({"listen_addresses": []}, r"edge\.listen_addresses"),
        ({"port": 0}, r"edge\.port"),
    ],
)
def test_bad_edge_settings_name_the_field(edge: dict[str, Any], field: str) -> None:
    with pytest.raises(RoleSettingsError, match=field):
        spec(edge=edge)


def test_notification_websockets_are_upgraded_through_the_edge() -> None:
    text = site()
    block = text[text.index("location /api/notifications/ws/ {") :]
    block = block[: block.index("}")]
    assert "proxy_set_header Upgrade $http_upgrade;" in block
    assert 'proxy_set_header Connection "upgrade";' in block
    assert "proxy_buffering off;" in block


def test_the_access_log_says_where_each_requests_time_went() -> None:
    text = site()
    assert "access_log /var/log/nginx/sovereign-edge.access.log sovereign_timed " in text
    log_format = text.split("log_format sovereign_timed", 1)[1].split(";", 1)[0]
    for field in ("rt=$request_time", "uct=$upstream_connect_time",
                  "urt=$upstream_response_time", "rid=$request_id"):  # fmt: skip
        assert field in log_format
