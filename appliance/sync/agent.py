"""The sync service as the agent runs it: credentials from the agent's secrets backend (Vault
KV: the Nextcloud app password and the appliance's age identity, read when a job runs, never
written to disk in clear), and failures past their retries raised as internal notifications."""

from __future__ import annotations

from appliance.database.repository import Store
from appliance.notifications.internal import INTERNAL_TYPE
from appliance.notifications.models import NotifyRequest, Severity
from appliance.notifications.service import NotificationService
from appliance.secrets import SecretManager
from appliance.sync.service import SyncService
from appliance.sync.settings import SyncSettings
from appliance.sync.store import Document, SyncStore

PASSWORD_FIELD = "app_password"  # noqa: S105 (a field name)
IDENTITY_FIELD = "identity"


def failure_request(user: str, channel: str, document: Document) -> NotifyRequest:
    """The internal notification of a failed sync (the path is the operator's own data, shown
    to the operator; the reason names no secret)."""
    return NotifyRequest(
        user_id=user,
        type=INTERNAL_TYPE,
        channel=channel,
        severity=Severity.ERROR,
        subject=f"Document sync {document.id} failed",
        message=f"Sync of {document.path} (job {document.id}) failed: {document.reason}",
        data={"document": document.id, "reason": document.reason or ""},
    )


def build_service(
    settings: SyncSettings,
    store: Store,
    secrets: SecretManager,
    notifications: NotificationService | None,
) -> SyncService:
    def credentials() -> tuple[str, str]:
        password = secrets.get(settings.password_secret, PASSWORD_FIELD).get_secret_value()
        identity = secrets.get(settings.identity_secret, IDENTITY_FIELD).get_secret_value()
        return password, identity

    def notify(document: Document) -> None:
        if notifications is None:
            return
        channel = notifications.settings.internal_channel
        if channel is None:
            return
        notifications.notify(
            failure_request(notifications.settings.internal_user, channel, document),
            created_by="sync",
            idempotency_key=f"sync-failed-{document.id}-{document.attempts}",
        )

    return SyncService(settings, SyncStore(store), credentials, notify=notify)
