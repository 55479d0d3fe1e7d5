"""Channels through Apprise: a channel's kind, options and credentials make an Apprise URL,
and Apprise delivers. No vendor HTTP client lives here.

Credentials come from the SecretManager entry a channel names (``secret``), never from its
options; the URL holding them is built for one delivery and never logged, stored or shown, and
Apprise's own failure messages are scrubbed of every credential value before they are kept.

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from appliance.notifications.models import KINDS, Channel

log = logging.getLogger(__name__)

#: Fields each kind's secret must have (others are optional).
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "email": (),
    "slack": ("url",),
    "teams": ("url",),
    "pagerduty": ("integration_key", "api_key"),
    "twilio": ("account_sid", "auth_token"),
    "webhook": (),
    "ntfy": (),
    "gotify": ("token",),
    "matrix": ("user", "password"),
}

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


class ChannelError(ValueError):
    """A channel that cannot be used as configured (says which option or field)."""


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


@dataclass(frozen=True, slots=True)
class Delivery:
    """What to send: the recipient overrides the channel's default one."""

    notification_id: int
    subject: str
    text: str
    recipient: str | None = None
    html: str | None = None
    markdown: str | None = None


def _q(value: object) -> str:
    return quote(str(value), safe="")


def _hostport(url: str) -> tuple[bool, str]:
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return secure, netloc + parts.path.rstrip("/")


def apprise_url(channel: Channel, credentials: Mapping[str, str], delivery: Delivery) -> str:
    """The Apprise URL of one delivery. Holds credentials: never log it."""
    o, c, to = channel.options, credentials, delivery.recipient
    missing = [f for f in CREDENTIALS[channel.kind] if not c.get(f)]
    if missing:
        raise ChannelError(f"secret {channel.secret} lacks field(s) {', '.join(missing)}")
    header = {"+X-Sovereign-Notification": str(delivery.notification_id)}
    if channel.kind == "email":
        tls = o.get("tls", "starttls")
        query: dict[str, Any] = {
            "from": o["from"],
            "to": to or o.get("to") or "",
            "smtp": o["host"],
            "format": "html" if delivery.html else "text",
            **header,
        }
        if tls != "none":
            query["mode"] = tls
        if c.get("user"):
            query["user"] = c["user"]
            query["pass"] = c.get("password", "")
        if not query["to"]:
            raise ChannelError("email needs a recipient: `to` in the request or the channel")
        scheme = "mailto" if tls == "none" else "mailtos"
        port = f":{int(o['port'])}" if o.get("port") else ""
        return f"{scheme}://{o['host']}{port}?{urlencode(query, quote_via=quote)}"
    if channel.kind in ("slack", "teams"):
        # Apprise understands the vendors' own webhook URLs.
        url = c["url"]
        if channel.kind == "slack" and o.get("channel"):
            url += ("&" if "?" in url else "?") + urlencode({"to": o["channel"]}, quote_via=quote)
        return url
    if channel.kind == "pagerduty":
        query = {"region": o.get("region", "us")}
        for key in ("source", "component"):
            if o.get(key):
                query[key] = o[key]
        keys = f"{_q(c['integration_key'])}@{_q(c['api_key'])}"
        return f"pagerduty://{keys}/?{urlencode(query, quote_via=quote)}"
    if channel.kind == "twilio":
        target = to or o.get("to")
        if not target:
            raise ChannelError("twilio needs a recipient: `to` in the request or the channel")
        return f"twilio://{_q(c['account_sid'])}:{_q(c['auth_token'])}@{_q(o['from'])}/{_q(target)}"
    if channel.kind == "webhook":
        secure, where = _hostport(str(o["url"]))
        query = dict(header)
        if c.get("token"):
            query["+Authorization"] = f"Bearer {c['token']}"
        return f"{'jsons' if secure else 'json'}://{where}?{urlencode(query, quote_via=quote)}"
    if channel.kind == "ntfy":
        secure, where = _hostport(str(o["url"]))
        auth = ""
        query = {}
        if c.get("token"):
            query["token"] = c["token"]
        elif c.get("user"):
            auth = f"{_q(c['user'])}:{_q(c.get('password', ''))}@"
        suffix = f"?{urlencode(query, quote_via=quote)}" if query else ""
        return f"{'ntfys' if secure else 'ntfy'}://{auth}{where}/{_q(o['topic'])}{suffix}"
    if channel.kind == "gotify":
        secure, where = _hostport(str(o["url"]))
        return f"{'gotifys' if secure else 'gotify'}://{where}/{_q(c['token'])}"
    if channel.kind == "matrix":
        secure, where = _hostport(str(o["url"]))
        room = str(o["room"]).lstrip("#")
        return (
            f"{'matrixs' if secure else 'matrix'}://{_q(c['user'])}:{_q(c['password'])}@"
            f"{where}/#{_q(room)}"
        )
    raise ChannelError(f"unknown kind {channel.kind!r}")


def scrub(text: str, credentials: Mapping[str, str]) -> str:
    """``text`` without any credential value (nor its URL-quoted form)."""
    for value in credentials.values():
        if value and len(value) >= 3:
            text = text.replace(value, "***").replace(_q(value), "***")
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
    try:
        ok, reason = _send(url, channel, delivery, timeout_s)
    finally:
        _redact.remove(guard)
    duration = (time.perf_counter() - started) * 1000
    if ok:
        return SendResult(True, None, duration)
    return SendResult(False, scrub(reason, credentials)[:500], duration)


def _send(url: str, channel: Channel, delivery: Delivery, timeout_s: float) -> tuple[bool, str]:
    import apprise  # slow to import; only the worker needs it

    body = delivery.text
    body_format = apprise.NotifyFormat.TEXT
    if delivery.html and channel.kind == "email":
        body, body_format = delivery.html, apprise.NotifyFormat.HTML
    elif delivery.markdown and channel.kind in ("slack", "teams", "matrix", "ntfy", "gotify"):
        body, body_format = delivery.markdown, apprise.NotifyFormat.MARKDOWN
    capture = apprise.LogCapture(level=logging.WARNING, fmt="%(message)s")  # type: ignore[no-untyped-call]
    with capture as captured:
        asset = apprise.AppriseAsset(async_mode=False)
        server = apprise.Apprise.instantiate(url, asset=asset, suppress_exceptions=True)
        if server is None:
            return False, f"apprise could not use the {channel.kind} channel's URL"
        server.socket_connect_timeout = timeout_s
        server.socket_read_timeout = timeout_s
        ok = bool(server.notify(body=body, title=delivery.subject, body_format=body_format))
        messages = str(captured.getvalue()).strip()
    if ok:
        return True, ""
    return False, messages.splitlines()[-1] if messages else f"{channel.kind} delivery failed"
