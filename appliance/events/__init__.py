"""The agent's event bus on the Kafka API, with a durable SQLite outbox.

See bus.py for usage, envelope.py for the wire format, forwarder.py (outbox → broker) and
consumer.py (broker → handler) for the two halves of the delivery contract: at-least-once on
the wire, exactly-once as a handler sees it (but for the batch in progress at a crash, whose
handlers may run again), in order per key. outbox.py states what a power cut can lose (nothing
acknowledged at synchronous=FULL), inbox.py holds the dedupe window and the dead letters,
propagation.py the W3C trace context that travels in the event headers.
"""

from appliance.events.bus import EventBus, EventBusHealth
from appliance.events.consumer import Subscription
from appliance.events.envelope import (
    ENVELOPE_VERSION,
    BusEvent,
    InvalidEnvelopeError,
    InvalidPayloadError,
    InvalidTopicError,
    decode,
    encode,
    validate_topic,
)
from appliance.events.inbox import DeadLetter
from appliance.events.settings import EventBusSettings

__all__ = [
    "ENVELOPE_VERSION",
    "BusEvent",
    "DeadLetter",
    "EventBus",
    "EventBusHealth",
    "EventBusSettings",
    "InvalidEnvelopeError",
    "InvalidPayloadError",
    "InvalidTopicError",
    "Subscription",
    "decode",
    "encode",
    "validate_topic",
]
