"""Error reports to a Sentry-compatible service (sentry-sdk), off unless a DSN secret is
configured: the DSN is read from the agent's secrets (Vault on the appliance), never the
config file. Every event and breadcrumb passes the scrubber before it leaves: strings by
the scrubber's rules, and any value under a key that names a secret (a local variable
``password``, a header ``authorization``). Local variables are left out unless asked for.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from appliance.logs import context
from appliance.logs.scrub import CONCEALED_NAMES, scrub
from appliance.logs.settings import ErrorTrackingSettings
from appliance.secrets import SecretManager
from appliance.secrets.errors import SecretError

log = logging.getLogger(__name__)

_CONCEALED_KEY = re.compile(rf"^[A-Za-z0-9_-]*?(?:{CONCEALED_NAMES})$", re.I)


def scrub_value(value: Any, key: str | None = None) -> Any:
    """A copy of an event's value with secrets and personal data masked."""
    if key is not None and _CONCEALED_KEY.match(key) and value not in (None, "", [], {}):
        return "[REDACTED:secret]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        # Header lists come as [name, value] pairs: the name says what the value is.
        if len(value) == 2 and isinstance(value[0], str) and _CONCEALED_KEY.match(value[0]):
            return [value[0], "[REDACTED:secret]"]
        return [scrub_value(v) for v in value]
    return value


def scrub_event(event: Any, hint: Any = None) -> Any:
    """sentry-sdk's before_send / before_breadcrumb: the whole event, scrubbed."""
    del hint
    return scrub_value(event)


def report_event(event: Any, hint: Any = None) -> Any:
    """before_send: the event scrubbed, tagged with the trace it happened in (trace_id,
    span_id: the same ids as its journal lines, /api/traces/{trace_id})."""
    event = scrub_event(event, hint)
    ids = context.trace_ids()
    if ids is not None and isinstance(event, dict):
        event.setdefault("tags", {}).update(trace_id=ids[0], span_id=ids[1])
    return event


def start_error_tracking(settings: ErrorTrackingSettings, secrets: SecretManager) -> bool:
    """Turn error reporting on (True), or say why not; raises SecretError when the DSN
    cannot be read now (the caller tries again later)."""
    if settings.dsn_secret is None:
        return False
    import sentry_sdk

    dsn = secrets.get(settings.dsn_secret, "dsn").get_secret_value()
    sentry_sdk.init(
        dsn=dsn,
        environment=settings.environment,
        sample_rate=settings.sample_rate,
        send_default_pii=False,
        include_local_variables=settings.include_local_variables,
        before_send=report_event,
        before_breadcrumb=scrub_event,
        ca_certs=str(settings.ca_bundle) if settings.ca_bundle else None,
        traces_sample_rate=None,  # traces are OpenTelemetry's (issue 15), not Sentry's
    )
    log.info("error reports on (secret %s)", settings.dsn_secret)
    return True


async def keep_trying(settings: ErrorTrackingSettings, secrets: SecretManager) -> None:
    """At start, and every minute while the DSN cannot be read (Vault starting, sealed)."""
    while True:
        try:
            await asyncio.to_thread(start_error_tracking, settings, secrets)
            return
        except SecretError as exc:
            log.warning("error reports not on yet: %s", exc)
        await asyncio.sleep(60)


def stop_error_tracking(timeout_s: float = 2.0) -> None:
    """Send what is queued (at the agent's stop)."""
    import sentry_sdk

    client = sentry_sdk.get_client()
    if client.is_active():
        client.flush(timeout=timeout_s)
