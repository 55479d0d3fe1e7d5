"""Channels through Apprise: a channel's kind, options and credentials make an Apprise URL,
and Apprise delivers. No vendor HTTP client lives here.

Credentials come from the SecretManager entry a channel names (``secret``), never from its
options; the URL holding them (urls.py) is never logged, stored or shown, and Apprise's own
failure messages are scrubbed of every credential value before they are kept.

Each sending thread keeps the Apprise objects it made, by URL (``KEPT`` of them, in memory
only): parsing the URL and building the plugin was most of a webhook delivery's CPU. A kept
object gets each delivery's own ``X-Sovereign-Notification`` header, and no throttle (an
object made per send never waited either). Matrix objects are not kept: they hold a login.

Kinds, their options and their secret's fields:

==========  =====================================================  ==========================
kind        options                                                secret fields
==========  =====================================================  ==========================
email       host, port, tls (starttls|ssl|none), from, to          user, password (optional)
slack       channel (optional)                                     url (the webhook URL)
teams       —                                                      url (Workflows webhook URL)
pagerduty   region (us|eu), source, component                      integration_key, api_key
twilio      from (E.164), to                                       account_sid, auth_token
webhook     url (http[s]://host[:port]/path)                       token (optional: Bearer)
ntfy        url (http[s]://host[:port]), topic                     token or user+password
gotify      url (http[s]://host[:port][/path])                     token
matrix      url (http[s]://host[:port]), room                      user, password
==========  =====================================================  ==========================

Teams is a Power Automate "Workflows" webhook (``https://….logic.azure.com:443/workflows/…``):
Microsoft retired the Office 365 connectors' incoming webhooks, and Apprise posts to Workflows.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from opentelemetry import trace

from appliance.notifications.models import KINDS, Channel
from appliance.notifications.urls import (
    CREDENTIALS,
    ID_HEADER,
    WITH_ID_HEADER,
    ChannelError,
    Delivery,
    apprise_url,
)

__all__ = [
    "CREDENTIALS",
    "REQUIRED_OPTIONS",
    "SECRET_FIELDS",
    "ChannelError",
    "Delivery",
    "SendResult",
    "apprise_url",
    "scrub",
    "send",
    "trust",
    "validate",
]

log = logging.getLogger(__name__)

#: Options each kind needs.
REQUIRED_OPTIONS: dict[str, tuple[str, ...]] = {
    "email": ("host", "from"),
    "slack": (),
    "teams": (),
    "pagerduty": (),
    "twilio": ("from",),
    "webhook": ("url",),
    "ntfy": ("url", "topic"),
    "gotify": ("url",),
    "matrix": ("url", "room"),
}


#: Every credential field a kind's secret may hold (required or optional): never an option.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    **CREDENTIALS,
    "email": ("user", "password"),
    "webhook": ("token",),
    "ntfy": ("token", "user", "password"),
}


def validate(channel: Channel) -> None:
    """Refuse a channel whose kind or options cannot make a URL (no secret needed)."""
    if channel.kind not in KINDS:
        raise ChannelError(f"unknown kind {channel.kind!r}; one of {', '.join(KINDS)}")
    secret_options = sorted(set(channel.options) & set(SECRET_FIELDS[channel.kind]))
    if secret_options:
        raise ChannelError(
            f"option(s) {', '.join(secret_options)} are credentials: put them in the secret the "
            "channel names, not in its options"
        )
    missing = [o for o in REQUIRED_OPTIONS[channel.kind] if not channel.options.get(o)]
    if missing:
        raise ChannelError(f"{channel.kind} channel needs option(s) {', '.join(missing)}")
    if CREDENTIALS[channel.kind] and not channel.secret:
        fields = ", ".join(CREDENTIALS[channel.kind])
        raise ChannelError(f"{channel.kind} channel needs a secret with field(s) {fields}")
    for key in ("url",):
        if key in channel.options:
            parts = urlsplit(str(channel.options[key]))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ChannelError(f"option {key} must be an http(s) URL")
            if parts.username or parts.password:
                raise ChannelError(f"option {key} must not hold credentials (user:password@)")
    if channel.kind == "email" and channel.options.get("tls", "starttls") not in (
        "starttls",
        "ssl",
        "none",
    ):
        raise ChannelError("option tls must be starttls, ssl or none")


def scrub(text: str, credentials: Mapping[str, str]) -> str:
    """``text`` without any credential value (nor its URL-quoted form)."""
    for value in credentials.values():
        if value and len(value) >= 3:
            text = text.replace(value, "***").replace(quote(value, safe=""), "***")
    return text


class _Redact(logging.Filter):
    """On Apprise's logger: every record loses the credentials of the deliveries in flight
    (Apprise logs whole URLs at DEBUG, custom headers such as a webhook's token included)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._active: dict[int, Mapping[str, str]] = {}

    def add(self, credentials: Mapping[str, str]) -> int:
        with self._lock:
            key = id(credentials)
            self._active[key] = credentials
            return key

    def remove(self, key: int) -> None:
        with self._lock:
            self._active.pop(key, None)

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            active = list(self._active.values())
        if active:
            text = record.getMessage()
            for credentials in active:
                text = scrub(text, credentials)
            record.msg, record.args = text, None
        return True


_redact = _Redact()
logging.getLogger("apprise").addFilter(_redact)


def trust(ca_bundle: Path) -> None:
    """Make this process's TLS clients trust ``ca_bundle``: requests (Apprise's HTTP
    plugins) reads REQUESTS_CA_BUNDLE for every new session, and ``ssl.create_default_context``
    (Apprise's SMTP) reads SSL_CERT_FILE; Apprise offers no CA option of its own."""
    os.environ["REQUESTS_CA_BUNDLE"] = str(ca_bundle)
    os.environ["SSL_CERT_FILE"] = str(ca_bundle)
    log.info("notification channels trust the CA bundle %s", ca_bundle)


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    error: str | None
    duration_ms: float


def send(
    channel: Channel,
    credentials: Mapping[str, str],
    delivery: Delivery,
    timeout_s: float = 30.0,
) -> SendResult:
    """Deliver through Apprise (blocking: call from a worker thread)."""
    started = time.perf_counter()
    try:
        url = apprise_url(channel, credentials, delivery)
    except ChannelError as exc:
        return SendResult(False, scrub(str(exc), credentials), 0.0)
    guard = _redact.add(credentials)
    attributes = {"notification.channel": channel.name, "notification.kind": channel.kind}
    with _tracer.start_as_current_span("notify " + channel.kind, attributes=attributes) as span:
        try:
            ok, reason = _send(url, channel, delivery, timeout_s)
        finally:
            _redact.remove(guard)
        if not ok:
            span.set_status(trace.StatusCode.ERROR, "not delivered")
    duration = (time.perf_counter() - started) * 1000
    if ok:
        return SendResult(True, None, duration)
    return SendResult(False, scrub(reason, credentials)[:500], duration)


_tracer = trace.get_tracer("appliance.notifications")

#: Kinds whose Apprise objects a thread keeps and reuses: their plugins keep no state from
#: one send to the next (Matrix logs in and holds its session: a new object each send).
REUSABLE = frozenset(KINDS) - {"matrix"}
#: Apprise objects kept per sending thread (least recently used dropped first).
KEPT = 16


class _Thread(threading.local):
    """One sending thread's kept Apprise objects and the Apprise messages of its send."""

    def __init__(self) -> None:
        self.servers: OrderedDict[str, Any] = OrderedDict()
        self.captured: list[str] | None = None


_thread = _Thread()


class _Capture(logging.Handler):
    """Apprise's warnings of the current thread's send (the reason it failed). Apprise's
    LogCapture added and removed a handler on its logger around every send, and heard the
    other threads' sends as well."""

    def emit(self, record: logging.LogRecord) -> None:
        captured = _thread.captured
        if captured is not None:
            captured.append(record.getMessage())


_apprise_log = logging.getLogger("apprise")
_apprise_log.addHandler(_Capture(logging.WARNING))
_asset: Any = None


def _server(url: str, kind: str, timeout_s: float) -> Any:
    """The thread's Apprise object for ``url`` (made now if it has none), or None."""
    import apprise  # slow to import; only the worker needs it

    global _asset
    kept = _thread.servers
    server = kept.get(url)
    if server is not None:
        kept.move_to_end(url)
    else:
        if _asset is None:
            _asset = apprise.AppriseAsset(async_mode=False)
        server = apprise.Apprise.instantiate(url, asset=_asset, suppress_exceptions=True)
        if server is None:
            return None
        if kind in REUSABLE:
            server.request_rate_per_sec = 0
            kept[url] = server
            if len(kept) > KEPT:
                kept.popitem(last=False)
    server.socket_connect_timeout = timeout_s
    server.socket_read_timeout = timeout_s
    return server


def _send(url: str, channel: Channel, delivery: Delivery, timeout_s: float) -> tuple[bool, str]:
    import apprise

    body = delivery.text
    body_format = apprise.NotifyFormat.TEXT
    if delivery.html and channel.kind == "email":
        body, body_format = delivery.html, apprise.NotifyFormat.HTML
    elif delivery.markdown and channel.kind in ("slack", "teams", "matrix", "ntfy", "gotify"):
        body, body_format = delivery.markdown, apprise.NotifyFormat.MARKDOWN
    if _apprise_log.getEffectiveLevel() > logging.WARNING:
        _apprise_log.setLevel(logging.WARNING)  # its warnings are the failure reasons
    server = _server(url, channel.kind, timeout_s)
    if server is None:
        return False, f"apprise could not use the {channel.kind} channel's URL"
    if channel.kind in WITH_ID_HEADER:
        server.headers[ID_HEADER] = str(delivery.notification_id)
    captured: list[str] = []
    _thread.captured = captured
    try:
        ok = bool(server.notify(body=body, title=delivery.subject, body_format=body_format))
    finally:
        _thread.captured = None
    if ok:
        return True, ""
    messages = "\n".join(captured).strip()
    return False, messages.splitlines()[-1] if messages else f"{channel.kind} delivery failed"
