"""Templates: predefined ones (code) and custom ones (database), Jinja2 in its sandbox, one
rendering per channel kind: plain text within 160 characters for SMS, Markdown for chat,
HTML + text for email, plain text elsewhere.

A template is checked when it is saved (syntax, and a rendering with sample data in the
sandbox), so a broken one is refused then. Rendering at delivery never fails a delivery:
missing variables render empty, and a rendering error falls back to the subject and message
written at notify time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError, Undefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, delete, insert, select, update

from appliance.database.repository import Store
from appliance.database.schema import notification_templates as table

SMS_LIMIT = 160
CHAT_KINDS = frozenset({"slack", "teams", "matrix", "ntfy", "gotify"})
SMS_KINDS = frozenset({"twilio"})
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    subject: str
    text: str
    markdown: str | None = None
    html: str | None = None
    sms: str | None = None
    predefined: bool = False


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    markdown: str | None = None
    html: str | None = None


class TemplateInvalid(ValueError):
    """A template that does not compile or render in the sandbox (which part, and why)."""


class TemplateNotFound(LookupError):
    pass


class TemplateReadOnly(ValueError):
    pass


def _p(name: str, subject: str, text: str, markdown: str, html: str, sms: str) -> Template:
    return Template(name, subject, text, markdown, html, sms, predefined=True)


PREDEFINED: dict[str, Template] = {
    t.name: t
    for t in (
        _p(
            "alert_firing",
            "[{{ severity | upper }}] {{ alert }} firing on {{ host }}",
            "{{ alert }} is firing on {{ host }} since {{ since }}.\n{{ summary }}",
            "**{{ alert }}** is firing on `{{ host }}` since {{ since }}.\n\n{{ summary }}",
            "<p><b>{{ alert }}</b> is firing on <code>{{ host }}</code> since {{ since }}.</p>"
            "<p>{{ summary }}</p>",
            "{{ severity | upper }} {{ alert }} on {{ host }}: {{ summary }}",
        ),
        _p(
            "alert_resolved",
            "[RESOLVED] {{ alert }} on {{ host }}",
            "{{ alert }} on {{ host }} is resolved.\n{{ summary }}",
            "**{{ alert }}** on `{{ host }}` is resolved.\n\n{{ summary }}",
            "<p><b>{{ alert }}</b> on <code>{{ host }}</code> is resolved.</p><p>{{ summary }}</p>",
            "RESOLVED {{ alert }} on {{ host }}",
        ),
        _p(
            "pool_degraded",
            "ZFS pool {{ pool }} is {{ state }} on {{ host }}",
            "Pool {{ pool }} on {{ host }} is {{ state }}.\n{{ detail }}",
            "ZFS pool **{{ pool }}** on `{{ host }}` is **{{ state }}**.\n\n{{ detail }}",
            "<p>ZFS pool <b>{{ pool }}</b> on <code>{{ host }}</code> is <b>{{ state }}</b>."
            "</p><pre>{{ detail }}</pre>",
            "Pool {{ pool }} {{ state }} on {{ host }}",
        ),
        _p(
            "backup_failed",
            "Backup {{ job }} failed on {{ host }}",
            "Backup {{ job }} on {{ host }} failed at {{ at }}: {{ error }}",
            "Backup **{{ job }}** on `{{ host }}` failed at {{ at }}:\n\n```\n{{ error }}\n```",
            "<p>Backup <b>{{ job }}</b> on <code>{{ host }}</code> failed at {{ at }}:</p>"
            "<pre>{{ error }}</pre>",
            "Backup {{ job }} failed on {{ host }}: {{ error }}",
        ),
        _p(
            "sync_failed",
            "Sync {{ job }} failed on {{ host }}",
            "Sync {{ job }} on {{ host }} failed at {{ at }}: {{ error }}",
            "Sync **{{ job }}** on `{{ host }}` failed at {{ at }}:\n\n```\n{{ error }}\n```",
            "<p>Sync <b>{{ job }}</b> on <code>{{ host }}</code> failed at {{ at }}:</p>"
            "<pre>{{ error }}</pre>",
            "Sync {{ job }} failed on {{ host }}: {{ error }}",
        ),
        _p(
            "test_message",
            "Test notification from {{ host | default('the appliance') }}",
            "This is a test notification. {{ message }}",
            "This is a **test** notification. {{ message }}",
            "<p>This is a <b>test</b> notification. {{ message }}</p>",
            "Test notification. {{ message }}",
        ),
    )
}

_text = SandboxedEnvironment(undefined=Undefined, autoescape=False)
_html = SandboxedEnvironment(undefined=Undefined, autoescape=True)


def _parts(t: Template) -> dict[str, str]:
    parts = {"subject": t.subject, "text": t.text}
    for key in ("markdown", "html", "sms"):
        value = getattr(t, key)
        if value is not None:
            parts[key] = value
    return parts


def check(t: Template, sample: Mapping[str, Any] | None = None) -> None:
    """Compile every part and render it with ``sample`` in the sandbox; TemplateInvalid."""
    for part, source in _parts(t).items():
        env = _html if part == "html" else _text
        try:
            env.from_string(source).render(**(sample or {}))
        except TemplateError as exc:  # syntax, sandbox SecurityError, undefined calls…
            raise TemplateInvalid(f"{part}: {exc}") from exc
        except Exception as exc:  # a template's own runtime error (1/0, bad filters args)
            raise TemplateInvalid(f"{part}: {type(exc).__name__}: {exc}") from exc


def _render(env: SandboxedEnvironment, source: str, data: Mapping[str, Any]) -> str:
    return env.from_string(source).render(**data)


def sms(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= SMS_LIMIT else flat[: SMS_LIMIT - 1] + "…"


def render(t: Template, kind: str, data: Mapping[str, Any]) -> Rendered:
    """The rendering for one channel kind (raises on a template's runtime error)."""
    subject = " ".join(_render(_text, t.subject, data).split())
    text = _render(_text, t.text, data)
    if kind in SMS_KINDS:
        return Rendered(subject, sms(_render(_text, t.sms or t.text, data)))
    if kind in CHAT_KINDS and t.markdown:
        return Rendered(subject, text, markdown=_render(_text, t.markdown, data))
    if kind == "email" and t.html:
        return Rendered(subject, text, html=_render(_html, t.html, data))
    return Rendered(subject, text)


class Templates:
    """Predefined templates and the custom ones in the agent's database."""

    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock

    def all(self) -> list[Template]:
        def work(c: Connection) -> list[Template]:
            rows = c.execute(select(table).order_by(table.c.name))
            return [Template(r.name, r.subject, r.text, r.markdown, r.html, r.sms) for r in rows]

        return [*PREDEFINED.values(), *self._store.run(work)]

    def get(self, name: str) -> Template:
        if name in PREDEFINED:
            return PREDEFINED[name]

        def work(c: Connection) -> Any:
            return c.execute(select(table).where(table.c.name == name)).one_or_none()

        r = self._store.run(work)
        if r is None:
            raise TemplateNotFound(f"no template {name!r}")
        return Template(r.name, r.subject, r.text, r.markdown, r.html, r.sms)

    def put(self, t: Template, *, created_by: str, create: bool) -> Template:
        if t.name in PREDEFINED:
            raise TemplateReadOnly(f"template {t.name!r} is predefined")
        if not NAME.match(t.name):
            raise TemplateInvalid(f"name {t.name!r}: lower-case letters, digits, . _ -")
        check(t)
        now = self._clock()
        values = {"subject": t.subject, "text": t.text, "markdown": t.markdown, "html": t.html}
        values["sms"] = t.sms

        def work(c: Connection) -> str | None:
            exists = c.execute(select(table.c.name).where(table.c.name == t.name)).first()
            if create and exists:
                return f"template {t.name!r} exists"
            if not create and not exists:
                return f"no template {t.name!r}"
            if exists:
                c.execute(
                    update(table).where(table.c.name == t.name).values(updated_at=now, **values)
                )
            else:
                c.execute(
                    insert(table).values(
                        name=t.name, created_by=created_by, created_at=now, updated_at=now, **values
                    )
                )
            return None

        # Raised here, not in the transaction (the store reports errors inside it as its own).
        refused = self._store.run(work, exclusive=True)
        if refused is not None:
            raise (TemplateReadOnly if create else TemplateNotFound)(refused)
        return t

    def delete(self, name: str) -> None:
        if name in PREDEFINED:
            raise TemplateReadOnly(f"template {name!r} is predefined")

        def work(c: Connection) -> int:
            return int(c.execute(delete(table).where(table.c.name == name)).rowcount or 0)

        if not self._store.run(work, exclusive=True):
            raise TemplateNotFound(f"no template {name!r}")
