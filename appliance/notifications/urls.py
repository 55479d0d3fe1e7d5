"""The Apprise URL of a delivery: a channel's kind, options and credentials as Apprise
understands them (appliance/notifications/channels.py lists the kinds, their options and their
secrets' fields). Pure: no Apprise, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from appliance.notifications.models import Channel

#: The header email and webhook deliveries carry: the notification's id, the stable key a
#: receiver can de-duplicate on (Apprise gives every attempt a new Message-ID).
ID_HEADER = "X-Sovereign-Notification"
#: Kinds whose deliveries carry ID_HEADER.
WITH_ID_HEADER = frozenset({"email", "webhook"})

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


class ChannelError(ValueError):
    """A channel that cannot be used as configured (says which option or field)."""


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
    """The Apprise URL of one delivery, less its ``X-Sovereign-Notification`` header (email
    and webhook carry it; the sender sets it per delivery, so deliveries to the same place
    share one URL and one Apprise object). Holds credentials: never log it."""
    o, c, to = channel.options, credentials, delivery.recipient
    missing = [f for f in CREDENTIALS[channel.kind] if not c.get(f)]
    if missing:
        raise ChannelError(f"secret {channel.secret} lacks field(s) {', '.join(missing)}")
    if channel.kind == "email":
        tls = o.get("tls", "starttls")
        query: dict[str, Any] = {
            "from": o["from"],
            "to": to or o.get("to") or "",
            "smtp": o["host"],
            "format": "html" if delivery.html else "text",
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
        query = {}
        if c.get("token"):
            query["+Authorization"] = f"Bearer {c['token']}"
        suffix = f"?{urlencode(query, quote_via=quote)}" if query else ""
        return f"{'jsons' if secure else 'json'}://{where}{suffix}"
    if channel.kind == "ntfy":
        secure, where = _hostport(str(o["url"]))
        auth = ""
        # Markdown: a Markdown body goes as is with X-Markdown; a plain one is escaped.
        query = {"format": "markdown"}
        if c.get("token"):
            query["token"] = c["token"]
        elif c.get("user"):
            auth = f"{_q(c['user'])}:{_q(c.get('password', ''))}@"
        suffix = urlencode(query, quote_via=quote)
        return f"{'ntfys' if secure else 'ntfy'}://{auth}{where}/{_q(o['topic'])}?{suffix}"
    if channel.kind == "gotify":
        secure, where = _hostport(str(o["url"]))
        # Markdown: Gotify's clients render a body sent with extras client::display.
        return f"{'gotifys' if secure else 'gotify'}://{where}/{_q(c['token'])}?format=markdown"
    if channel.kind == "matrix":
        secure, where = _hostport(str(o["url"]))
        room = str(o["room"]).lstrip("#")
        return (
            f"{'matrixs' if secure else 'matrix'}://{_q(c['user'])}:{_q(c['password'])}@"
            f"{where}/#{_q(room)}"
        )
    raise ChannelError(f"unknown kind {channel.kind!r}")
