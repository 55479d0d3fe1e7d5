"""The scrubber's corpus: what must be masked (and what of it must stay readable), and what
must come through untouched (ids, times, addresses, versions a log is read for)."""

from __future__ import annotations

import logging

import pytest

from appliance.logs.logfilter import ScrubFilter
from appliance.logs.scrub import scrub

# (text, the secret part that must be gone, what must stay)
MASKED = [
    ("password=hunter2 retry", "hunter2", "password="),
    ("PGPASSWORD='s3cr3t-pw' psql", "s3cr3t-pw", "PGPASSWORD="),
    ('{"user": "ops", "password": "Tr0ub4dor&3"}', "Tr0ub4dor", '"user": "ops"'),
    ("client_secret: abcDEF123456", "abcDEF123456", "client_secret"),
    ("secret_id=1b2c3d4e-1111-2222-3333-444455556666 login", "1b2c3d4e-1111", "login"),
    ("role_id: 7f0c9a52-9d8e-4b1a-8f3e-2a1b3c4d5e6f", "7f0c9a52", "role_id"),
    ("api_key=AbCdEf0123456789", "AbCdEf0123456789", "api_key="),
    ("X-Vault-Token: hvs.CAESIJ7aBcDeFgHiJkLmNoPqRsTuVwXyZ012", "CAESIJ7aBcDeFg", "X-Vault-Token"),
    ("token s.AbCdEfGhIjKlMnOpQrStUvWx expired", "AbCdEfGhIjKlMnOpQrStUvWx", "expired"),
    ("Authorization: Bearer sva_0123456789abcdefghijklmnop", "sva_0123456789", "Bearer"),
    ("auth header Basic dXNlcjpwYXNzd29yZA== refused", "dXNlcjpwYXNzd29yZA", "refused"),
    ("new token sva_ZYXWVUTSRQPONMLKJIHGFEDCBA issued", "sva_ZYXW", "issued"),
    ("postgresql://agent:p%40ss@10.99.0.11:5432/agent", "p%40ss", "postgresql://agent:"),
    ("https://bob:hunter22@hooks.example.net/x", "hunter22", "hooks.example.net"),
    ("AGE-SECRET-KEY-1QQSZ5R5ZK8N6L7F3J2M0A9XWVUTSRQPONMLKJHGFEDCBA", "QQSZ5R5ZK8", ""),
    (
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXk",
        "",
    ),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlc2ln", "eyJzdWIiOiIx", "jwt"),
    ("slack xoxb-1234567890-abcdefghij", "xoxb-1234567890", "slack"),
    ("posting to https://hooks.slack.com/services/T000/B000/XXXXSECRET", "XXXXSECRET", "hooks"),
    ("aws AKIAIOSFODNN7EXAMPLE used", "AKIAIOSFODNN7EXAMPLE", "used"),
    ("mail to jane.doe+ops@example.co.uk bounced", "jane.doe", "bounced"),
    ("sms to +41 44 668 18 00 sent", "668 18 00", "sent"),
    ("sms to +15005550006 queued", "5005550006", "queued"),
    ("call (415) 555-2671 now", "555-2671", "call"),
    ("IBAN DE89 3704 0044 0532 0130 00 paid", "3704 0044", "paid"),
    ("iban GB82WEST12345698765432", "GB82WEST", "iban"),
    ("card 4111 1111 1111 1111 declined", "4111 1111", "declined"),
    ("card 5555555555554444", "5555555555554444", "card"),
]

KEPT = [
    "GET /api/storage/quota 200 4.2 ms request_id=3f2b0c1e-8a0d-4c1e-9a3b-1e2f3a4b5c6d",
    "listening on 10.99.0.11:8013 pid 4242",
    "2026-11-29T01:02:03.123Z checkpoint complete: wrote 1234 buffers (7.5%)",
    "PostgreSQL 15.10 (Debian 15.10-0+deb12u1) on x86_64-pc-linux-gnu",
    "sealed=false version=2.1.0 cluster_id=9e5feafe23d595c1",
    "realtime 1795913974354394 monotonic 33286200330",
    "pool tank state DEGRADED, 2 of 6 disks offline, 4111 MB free",
    "took tank/nextcloud@autosnap_2026-11-29_00:48:23_frequently",
    "token revoked for name ops-laptop",  # the word, not a value
    'password authentication failed for user "agent"',
    "IBAN DE89 3704 0044 0532 0130 01",  # checksum fails: not an IBAN
    "order 4111 1111 1111 1112",  # Luhn fails: not a card
    "retry in 5 s (attempt 3/10), backoff 2.5",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
]


@pytest.mark.parametrize(("text", "secret", "kept"), MASKED)
def test_secrets_and_personal_data_are_masked(text: str, secret: str, kept: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned
    assert "[REDACTED:" in cleaned
    assert kept in cleaned


@pytest.mark.parametrize("text", KEPT)
def test_what_a_log_is_read_for_stays(text: str) -> None:
    assert scrub(text) == text


def test_scrubbing_twice_changes_nothing_more() -> None:
    once = scrub("password=hunter2 to jane@example.com, Bearer sva_0123456789abcdefghij")
    assert scrub(once) == once


def test_the_agents_log_records_are_scrubbed_arguments_and_tracebacks_too() -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "login %s with %s", None, None)
    record.args = ("jane@example.com", "password=hunter2")
    try:
        raise RuntimeError("dsn postgresql://agent:topsecret@db/agent unreachable")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert ScrubFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "jane@example.com" not in text and "hunter2" not in text and "topsecret" not in text
    assert "login [REDACTED:email]" in text and "unreachable" in text
