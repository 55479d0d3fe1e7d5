"""The sync service as the agent runs it: credentials from the agent's secrets backend (Vault
KV: the Nextcloud app password and the appliance's age identity, read when a job runs, never
written to disk in clear), and failures past their retries raised as internal notifications."""

from __future__ import annotations

from appliance.database.repository import Store
from appliance.notifications.internal import INTERNAL_TYPE
from appliance.notifications.models import NotifyRequest, Severity
from appliance.notifications.service import NotificationService
from appliance.secrets import SecretManager
from appliance.secrets.errors import SecretError, SecretNotFound
from appliance.sync import crypto
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


def ensure_identity(settings: SyncSettings, secrets: SecretManager, *, create: bool) -> str:
    """The appliance's sync identity in the secrets backend: ``present``, ``absent``, or,
    with ``create``, made now (an age X25519 key from pyrage, straight into the backend with a
    check-and-set create where it has one: never replaced, so documents stay decryptable).
    Returns the state and the public recipient, ``"present age1…"``; never the key."""
    name = settings.identity_secret
    if secrets.supports_cas:
        current = secrets.read_versioned(name)
        found = (current.fields or {}).get(IDENTITY_FIELD)
        version = current.version
    else:
        try:
            found, version = secrets.get(name, IDENTITY_FIELD), 0
        except SecretNotFound:
            found, version = None, 0
    if found is not None:
        return f"present {crypto.recipient_of(found.get_secret_value())}"
    if not create:
        return "absent"
    identity = crypto.new_identity()
    if secrets.supports_cas:
        secrets.write_cas(name, {IDENTITY_FIELD: identity}, version)
    else:
        secrets.put(name, {IDENTITY_FIELD: identity})
    return f"created {crypto.recipient_of(identity)}"


def main(argv: list[str] | None = None) -> int:
    """`python -m appliance.sync.agent identity [--create]` on the host, as root, with the
    agent's configuration (APPLIANCE_CONFIG_FILE): the deploy's way to make the identity on
    the first deploy with sync (roles/agent), through the agent's own secrets backend."""
    import argparse

    from appliance.config import load_settings
    from appliance.secrets import build_secret_manager

    parser = argparse.ArgumentParser(prog="python -m appliance.sync.agent")
    parser.add_argument("command", choices=["identity"])
    parser.add_argument("--create", action="store_true", help="make it when absent")
    args = parser.parse_args(argv)
    settings = load_settings()
    if not settings.sync.enabled:
        print("disabled")
        return 0
    secrets = build_secret_manager(settings.secrets)
    try:
        print(ensure_identity(settings.sync, secrets, create=args.create))
    except SecretError as exc:  # names the secret, never a value
        print(f"error {type(exc).__name__}: {exc}")
        return 1
    finally:
        secrets.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
