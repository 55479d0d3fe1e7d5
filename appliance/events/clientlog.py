"""librdkafka's own log lines, through Python logging and throttled.

Without a ``logger`` in its config librdkafka writes to stderr: with the broker down that was
~19 journal lines a second (each producer and admin client retrying its connection every
50 ms, each line with a new timestamp). Given ``logger``, confluent-kafka hands the lines to
``logger.log(level, "%s [%s] %s", facility, client, message)`` when the client is polled;
this object throttles them: the first of a kind at once, then one summary per interval.
"A kind" ignores numbers (client instance, timings), so ``producer-49`` and ``producer-50``
failing to connect are one kind.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from appliance.health.journal import ThrottledLog

LOGGER = logging.getLogger("appliance.events.kafka")
#: librdkafka's levels are syslog's (0 emergency … 7 debug).
_SYSLOG_TO_LOGGING = {0: 50, 1: 50, 2: 50, 3: 40, 4: 30, 5: 20, 6: 20, 7: 10}
_NUMBERS = re.compile(r"\d+")


class KafkaClientLog:
    """What librdkafka's ``logger`` setting is given: one per process, shared by clients."""

    def __init__(self, interval_s: float = 30.0, logger: logging.Logger = LOGGER) -> None:
        self._throttle = ThrottledLog(logger, interval_s)

    def log(self, level: int, fmt: str, *args: Any) -> None:
        message = fmt % args if args else fmt
        level = _SYSLOG_TO_LOGGING.get(level, level) if level < 10 else level
        self._throttle.log(level, _NUMBERS.sub("#", message), message)

    def flush(self) -> None:
        self._throttle.flush()


_shared = KafkaClientLog()


def client_logger() -> KafkaClientLog:
    """The process's one throttle, so every client's lines count together."""
    return _shared
