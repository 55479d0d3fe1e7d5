"""The agent's own notifications: a dead letter raises one (severity error) to
``internal_user`` on ``internal_channel``, rendered from a template of its own like any other
(per channel kind at delivery). A dead internal notification raises none: nothing recurses."""

from __future__ import annotations

from appliance.notifications.models import Notification, NotifyRequest, Severity
from appliance.notifications.outbox import Planned
from appliance.notifications.settings import NotificationSettings
from appliance.notifications.templates import Template, render

INTERNAL_TYPE = "internal"

DEAD_LETTER = Template(
    "notification_dead",
    "Notification {{ notification }} could not be delivered",
    "Notification {{ notification }} to {{ user }} on channel {{ channel }} was dead-lettered "
    "after {{ attempts }} attempts: {{ error }}",
    "Notification **{{ notification }}** to `{{ user }}` on channel `{{ channel }}` was "
    "dead-lettered after {{ attempts }} attempts:\n\n```\n{{ error }}\n```",
    "<p>Notification <b>{{ notification }}</b> to <code>{{ user }}</code> on channel "
    "<code>{{ channel }}</code> was dead-lettered after {{ attempts }} attempts:</p>"
    "<pre>{{ error }}</pre>",
    "Notification {{ notification }} to {{ user }} dead on {{ channel }}: {{ error }}",
    predefined=True,
)

#: Templates only the agent uses (not listed, not usable through the API).
TEMPLATES = {t.name: t for t in (DEAD_LETTER,)}


def dead_letter(
    settings: NotificationSettings, item: Notification, error: str
) -> tuple[NotifyRequest, Planned] | None:
    """The notification a dead ``item`` raises, or None: no internal channel is set, or the
    dead one was itself internal."""
    if item.type == INTERNAL_TYPE or settings.internal_channel is None:
        return None
    data = {
        "notification": item.id,
        "user": item.user_id,
        "channel": item.channel,
        "attempts": item.attempt_count + 1,
        "error": error,
    }
    plain = render(DEAD_LETTER, "text", data)
    request = NotifyRequest(
        user_id=settings.internal_user,
        type=INTERNAL_TYPE,
        channel=settings.internal_channel,
        severity=Severity.ERROR,
        subject=plain.subject,
        message=plain.text,
        template=DEAD_LETTER.name,
        data=data,
    )
    return request, Planned(settings.internal_channel, None)
