"""The agent's own log records, scrubbed before any handler writes them (the journal keeps
what the agent prints on stderr)."""

from __future__ import annotations

import logging

from appliance.logs.scrub import scrub


class ScrubFilter(logging.Filter):
    """Replaces a record's message by its scrubbed text (arguments merged in first, so a
    secret passed as ``%s`` is masked too); an exception's text is masked the same way."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


def install(loggers: tuple[str, ...] = ("", "uvicorn", "uvicorn.error", "uvicorn.access")) -> int:
    """Puts the filter on every handler of these loggers (once); returns how many handlers."""
    count = 0
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, ScrubFilter) for f in handler.filters):
                handler.addFilter(ScrubFilter())
            count += 1
    return count
