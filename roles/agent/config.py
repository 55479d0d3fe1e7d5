"""The agent's configuration file, rendered from the host spec (pure: no host, no I/O).

The agent's own settings model validates it before it is rendered, so a bad `agent.config`
fails at preflight naming the field, never on the host.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import tomli_w
from pydantic import ValidationError

from appliance.config import validate_config
from roles.agent.settings import render_config, resolve_listen_address
from roles.agent.sync import sync_table
from roles.broker.settings import resolve_listen_address as resolve_broker_address
from roles.edge.settings import TRUSTED_PROXIES
from roles.postgres.settings import AGENT_DATABASE, AGENT_DB_ROLE, MONITOR_ROLE, PostgresSettings
from roles.settings import RoleSettingsError, format_validation_error
from roles.vault.desired import AGENT_DB_SECRET, AGENT_SECRETS_PREFIX, PG_MONITOR_SECRET
from roles.vault.layout import AGENT_ROLE_ID, AGENT_SECRET_ID, CA_CERT
from roles.vault.settings import VaultServerSettings

if TYPE_CHECKING:
    from roles.spec import HostSpec


OUTAGE_STATE_FILE = "/var/lib/sovereign/alert-outage.json"


def service_defaults(spec: HostSpec) -> dict[str, Any]:
    """What the agent watches on an appliance host: PostgreSQL over its local socket (peer
    auth as the agent's user, which the postgres role grants pg_monitor) and the broker (on
    loopback, as the broker role binds it); and the edge in front of it, whose
    X-Forwarded-For it believes (from 127.0.0.1 only) for rate limits and the audit log."""
    pg = spec.postgres
    defaults: dict[str, Any] = {
        "postgres_health_dsn": (
            f"host=/var/run/postgresql port={pg.port} dbname=postgres user={MONITOR_ROLE}"
        ),
        "security": {"trusted_proxies": list(TRUSTED_PROXIES)},
        # An outage of the agent's own database is kept on disk, so an agent restarted during
        # one neither repeats AgentDatabaseDown nor loses the resolve it owes.
        "alerting": {"dispatch": {"outage_state_file": OUTAGE_STATE_FILE}},
    }
    if spec.vault is not None:
        defaults.update(vault_defaults(spec.vault, pg))
    broker = spec.broker
    address = resolve_broker_address(broker, spec.ssh_hostname)
    defaults["events"] = {
        "bootstrap_servers": f"{address}:{broker.port}",
        "outbox_path": "/var/lib/sovereign/events.db",
    }
    return defaults


def vault_defaults(vault: VaultServerSettings, pg: PostgresSettings) -> dict[str, Any]:
    """With Vault on the host the agent takes its secrets from it (AppRole from the files the
    vault role delivers) and logs in to PostgreSQL over loopback with the password kept there."""
    return {
        "postgres_health_dsn": (
            f"host=127.0.0.1 port={pg.port} dbname=postgres user={MONITOR_ROLE}"
        ),
        "postgres_password_secret": PG_MONITOR_SECRET,
        # Its history and state in its own database (roles/postgres creates it), not SQLite.
        "database_url": (
            f"postgresql+psycopg://{AGENT_DB_ROLE}@127.0.0.1:{pg.port}/{AGENT_DATABASE}"
        ),
        "database_password_secret": AGENT_DB_SECRET,
        "secrets": {
            "backend": "vault",
            "vault": {
                "address": f"https://127.0.0.1:{vault.port}",
                "ca_cert": CA_CERT,
                "role_id_file": AGENT_ROLE_ID,
                "secret_id_file": AGENT_SECRET_ID,
                "kv_mount": vault.kv_mount,
                "transit_mount": vault.transit_mount,
            },
        },
    }


def check_channel_secrets(host: str, config: dict[str, Any]) -> None:
    """With Vault as the agent's backend, a declared channel's secret must be one its policy
    lets it read (`agent/…`, roles/vault/desired.py): else every delivery would be refused."""
    secrets = config.get("secrets")
    if not isinstance(secrets, dict) or secrets.get("backend") != "vault":
        return
    table = config.get("notifications")
    channels = table.get("channels", []) if isinstance(table, dict) else []
    for i, channel in enumerate(channels):
        secret = channel.get("secret")
        if secret is not None and not str(secret).startswith(AGENT_SECRETS_PREFIX):
            raise RoleSettingsError(
                f"host {host}: agent.notifications.channels.{i}.secret: the agent's Vault "
                f"policy reads only secrets under {AGENT_SECRETS_PREFIX}, got {secret!r}"
            )


def config_text(spec: HostSpec) -> str:
    """agent.toml, validated by the agent's own settings model before it is rendered."""
    cfg = spec.agent
    config = render_config(
        cfg, resolve_listen_address(cfg, spec.ssh_hostname), service_defaults(spec)
    )
    if spec.sync is not None:
        operators = list(spec.vault.operator_age_recipients) if spec.vault else []
        config["sync"] = sync_table(spec.name, spec.sync, operators)
    try:
        validate_config(config)
    except ValidationError as exc:
        raise RoleSettingsError(
            f"host {spec.name}: invalid `agent.config`:\n{format_validation_error('agent', exc)}"
        ) from None
    check_channel_secrets(spec.name, config)
    return "# Managed by Sovereign Appliance (roles/agent).\n" + tomli_w.dumps(config)
