from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from appliance.events import (
    ENVELOPE_VERSION,
    InvalidEnvelopeError,
    InvalidPayloadError,
    InvalidTopicError,
    decode,
    encode,
    validate_topic,
)
from appliance.events.envelope import new_event

NOW = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.mark.parametrize("topic", ["a", "storage.pool-state_v2", "A9", "x" * 249, "..."])
def test_valid_topics(topic: str) -> None:
    assert validate_topic(topic) == topic


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("", "reserved"),
        (".", "reserved"),
        ("..", "reserved"),
        ("x" * 250, "at most 249"),
        ("has space", "' '"),
        ("slash/topic", "'/'"),
        ("ünicode", "'ü'"),
    ],
)
def test_invalid_topics_name_the_topic_and_the_reason(topic: str, reason: str) -> None:
    with pytest.raises(InvalidTopicError, match="invalid topic name") as info:
        validate_topic(topic)
    assert isinstance(info.value, ValueError)
    assert reason in str(info.value)
    assert repr(topic[:40]) in str(info.value)


@pytest.mark.parametrize("payload", [{1, 2}, {"at": datetime.now(UTC)}, float("nan"), object()])
def test_payload_must_be_json(payload: object) -> None:
    with pytest.raises(InvalidPayloadError, match="payload for topic 'alerts' is not JSON"):
        new_event("alerts", payload, key=None, schema_version=1, now=NOW)


@pytest.mark.parametrize("version", [0, -1, True, "1"])
def test_schema_version_is_a_positive_int(version: object) -> None:
    with pytest.raises(ValueError, match="schema_version"):
        new_event("alerts", {}, key=None, schema_version=version, now=NOW)  # type: ignore[arg-type]


def test_round_trip_keeps_every_field() -> None:
    event, body = new_event(
        "storage.pool", {"pool": "tank", "free": [1, 2.5]}, key="tank", schema_version=3, now=NOW
    )
    wire = json.loads(body)
    assert wire["envelope"] == ENVELOPE_VERSION
    assert wire["id"] == str(event.id)
    back = decode(body, partition=2, offset=7)
    assert back.id == event.id
    assert (back.topic, back.key, back.schema_version) == ("storage.pool", "tank", 3)
    assert back.created_at == NOW
    assert back.payload == {"pool": "tank", "free": [1, 2.5]}
    assert (back.partition, back.offset) == (2, 7)
    assert encode(back) == body


def test_published_payload_is_what_consumers_decode() -> None:
    # Tuples become lists on the wire; the publisher's copy must say so too.
    event, body = new_event("t", {"xs": (1, 2)}, key=None, schema_version=1, now=NOW)
    assert event.payload == decode(body).payload == {"xs": [1, 2]}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"envelope": 99}', "unsupported envelope version"),
        (b'{"envelope": 1, "id": "x"}', "missing fields"),
        (
            json.dumps(
                {
                    "envelope": 1,
                    "id": "not-a-uuid",
                    "schema_version": 1,
                    "topic": "t",
                    "created_at": NOW.isoformat(),
                    "payload": None,
                }
            ).encode(),
            "UUID",
        ),
        (
            json.dumps(
                {
                    "envelope": 1,
                    "id": str(uuid.uuid4()),
                    "schema_version": 1,
                    "topic": "t",
                    "created_at": "2026-01-01T00:00:00",
                    "payload": None,
                }
            ).encode(),
            "time zone",
        ),
    ],
)
def test_decode_rejects_foreign_bytes(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidEnvelopeError, match=reason):
        decode(body)


@pytest.mark.parametrize(
    "payload",
    [
        {"a": [1, 2.5, None, True], "é": 'ü\n"\\', 3: (1, 2), "big": 10**30, "small": 1e-7},
        [],
        "text",
        1.0,
        None,
    ],
)
@pytest.mark.parametrize("key", [None, "k", 'quote " backslash \\ newline \n ü'])
def test_new_event_writes_the_bytes_encode_writes(payload: object, key: str | None) -> None:
    # new_event builds the bytes around the payload's JSON text instead of calling encode().
    plus_two = datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    event, body = new_event("a.topic-name_9", payload, key=key, schema_version=3, now=plus_two)
    assert body == encode(event)
    assert decode(body) == event
