"""Health checks of the services the deploy provisions: PostgreSQL, the Kafka-API broker and
Vault (OpenBao)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from appliance.events.clientlog import client_logger
from appliance.health.models import Probe, ServiceStatus
from appliance.health.registry import BlockingCheck
from appliance.secrets import SecretError, SecretManager

if TYPE_CHECKING:
    from appliance.secrets.settings import VaultClientSettings

PASSWORD_FIELD = "password"  # noqa: S105 - the field's name, not a password
# sys/health answers these codes with a JSON body; any other is not Vault talking.
_VAULT_STATES = {200: "active", 429: "standby", 472: "dr-secondary", 473: "perf-standby"}


class PostgresCheck(BlockingCheck):
    """Connect, `select 1`, and report recovery and replication state.

    Without ``password_secret`` the DSN must authenticate by itself (peer auth over the local
    socket). With it, field ``password`` of that secret is fetched through the SecretManager
    and given to the driver as a keyword, so it is never part of a DSN string that could be
    logged. While Vault cannot answer, the manager serves the known password stale: the check
    keeps telling whether PostgreSQL serves (details ``password_stale_age_s``), and Vault's
    outage shows on the vault check alone. A refused password is fetched once more at once,
    so a rotation does not wait for the TTL.
    """

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        connect_timeout_s: float = 3.0,
        *,
        secrets: SecretManager | None = None,
        password_secret: str | None = None,
    ) -> None:
        if (secrets is None) != (password_secret is None):
            raise ValueError("password_secret and secrets go together")
        self._dsn = dsn
        self._timeout = connect_timeout_s
        self._secrets = secrets
        self._password_secret = password_secret

    def probe_blocking(self) -> Probe:
        import psycopg

        try:
            row = self._query()
        except SecretError as exc:
            return Probe(ServiceStatus.DOWN, str(exc))
        except psycopg.OperationalError as exc:
            if self._secrets is None or self._password_secret is None:
                return _pg_down(exc)
            if "password authentication failed" not in str(exc):
                return _pg_down(exc)
            self._secrets.invalidate(self._password_secret)
            try:
                row = self._query()
            except SecretError as again:
                return Probe(ServiceStatus.DOWN, str(again))
            except psycopg.Error as again:
                return _pg_down(again)
        except psycopg.Error as exc:
            return _pg_down(exc)
        in_recovery, version, replicas = row
        details: dict[str, Any] = {
            "server_version": version,
            "role": "replica" if in_recovery else "primary",
            "replicas": int(replicas),
        }
        if self._secrets is not None and self._password_secret is not None:
            stale_age = self._secrets.stale_age_s(self._password_secret)
            if stale_age is not None:
                details["password_stale_age_s"] = stale_age
        return Probe(ServiceStatus.UP, "", details)

    def _query(self) -> tuple[Any, ...]:
        import psycopg

        extra: dict[str, Any] = {}
        if self._secrets is not None and self._password_secret is not None:
            secret = self._secrets.get(self._password_secret, PASSWORD_FIELD)
            extra["password"] = secret.get_secret_value()
        with psycopg.connect(
            self._dsn, connect_timeout=max(1, int(self._timeout)), autocommit=True, **extra
        ) as conn:
            conn.execute("select 1")
            row = conn.execute(
                "select pg_is_in_recovery(), current_setting('server_version'),"
                " (select count(*) from pg_stat_replication)"
            ).fetchone()
        assert row is not None
        return tuple(row)


def _pg_down(exc: Exception) -> Probe:
    # libpq's message names host/socket and role, never a password.
    return Probe(ServiceStatus.DOWN, str(exc).strip().splitlines()[0])


class BrokerCheck(BlockingCheck):
    """A metadata request to the Kafka-API broker: broker count and topic count."""

    name = "broker"

    def __init__(self, client_config: dict[str, Any], timeout_s: float = 3.0) -> None:
        # The throttled logger keeps librdkafka's connection errors off stderr: this check
        # reports the outage, once per state change.
        self._config = {
            **client_config,
            "socket.timeout.ms": int(timeout_s * 1000),
            "logger": client_logger(),
        }
        self._timeout = timeout_s

    def probe_blocking(self) -> Probe:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self._config)
        try:
            metadata = admin.list_topics(timeout=self._timeout)
        except KafkaException as exc:
            return Probe(ServiceStatus.DOWN, str(exc.args[0]) if exc.args else repr(exc))
        brokers = len(metadata.brokers)
        details = {"brokers": brokers, "topics": len(metadata.topics)}
        if brokers == 0:
            return Probe(ServiceStatus.DOWN, "no broker in the metadata", details)
        return Probe(ServiceStatus.UP, "", details)


class VaultCheck(BlockingCheck):
    """``GET sys/health`` (unauthenticated): initialised, sealed, HA role, version.

    Down when unreachable, not initialised or sealed; a standby is up (it forwards). The
    details add the agent's client state (breaker, token TTL, stale secrets) when given
    ``client_status``. When Vault answers again while the agent's client still has its breaker
    open or serves secrets stale, ``recover`` (SecretManager.recover) probes the client and
    fetches them again at once, so the agent is healthy within a health round of Vault's
    return rather than a breaker cooldown or a TTL later. Degraded when that does not cure it.
    """

    name = "vault"

    def __init__(
        self,
        settings: VaultClientSettings,
        client_status: Callable[[], dict[str, Any]] | None = None,
        recover: Callable[[], None] | None = None,
    ) -> None:
        import hvac

        self._client_status = client_status
        self._recover = recover
        self._timeout = settings.timeout_s
        self._client = hvac.Client(
            url=settings.address,
            token="",
            verify=str(settings.ca_cert) if settings.ca_cert else True,
            timeout=settings.timeout_s,
            adapter=hvac.adapters.RawAdapter,
        )
        self._client.session.trust_env = False

    def probe_blocking(self) -> Probe:
        import requests

        from appliance.secrets.vault import describe

        client = self._client_facts()
        details = dict(client)
        start = time.perf_counter()
        try:
            response = self._client.adapter.get("/v1/sys/health", raise_exception=False)
        except requests.exceptions.RequestException as exc:
            return Probe(
                ServiceStatus.DOWN, describe(exc, self._timeout) + _stale(details), details
            )
        details["latency_ms"] = round((time.perf_counter() - start) * 1000, 3)
        try:
            body = response.json()
        except ValueError:  # not JSON: something else answers on that port
            body = None
        if not isinstance(body, dict):
            return Probe(
                ServiceStatus.DOWN, f"sys/health answered HTTP {response.status_code}", details
            )
        sealed, initialized = bool(body.get("sealed")), bool(body.get("initialized"))
        state = _VAULT_STATES.get(response.status_code, "unknown")
        if state == "active" and self._ha_enabled() is False:
            state = "standalone"
        details.update(
            sealed=sealed,
            initialized=initialized,
            ha_state=state if initialized and not sealed else None,
            version=body.get("version"),
        )
        if not initialized:
            return Probe(ServiceStatus.DOWN, "vault not initialised" + _stale(details), details)
        if sealed:
            return Probe(ServiceStatus.DOWN, "vault sealed" + _stale(details), details)
        if state == "unknown":
            message = f"sys/health answered HTTP {response.status_code}"
            return Probe(ServiceStatus.DOWN, message + _stale(details), details)
        if self._recover is not None and _client_behind(details):
            with contextlib.suppress(SecretError):  # still failing: the details say why
                self._recover()
            for key in client:  # what the recovery changed: e.g. no stale_because any more
                details.pop(key, None)
            details.update(self._client_facts())
        if details.get("breaker", "closed") != "closed":
            reason = details.get("last_failure") or "failing calls"
            message = f"agent's vault client breaker open: {reason}"
            return Probe(ServiceStatus.DEGRADED, message + _stale(details), details)
        if details.get("stale_secrets"):
            return Probe(ServiceStatus.DEGRADED, _stale(details).removeprefix("; "), details)
        return Probe(ServiceStatus.UP, "" if state in ("active", "standalone") else state, details)

    def _client_facts(self) -> dict[str, Any]:
        if self._client_status is None:
            return {}
        return {k: v for k, v in self._client_status().items() if k != "backend"}

    def _ha_enabled(self) -> bool | None:
        """sys/health does not say whether HA is on; sys/leader (unauthenticated) does."""
        import requests

        try:
            leader = self._client.adapter.get("/v1/sys/leader", raise_exception=False)
            value = leader.json().get("ha_enabled") if leader.ok else None
        except (ValueError, requests.exceptions.RequestException):
            return None
        return value if isinstance(value, bool) else None


def _client_behind(details: dict[str, Any]) -> bool:
    return details.get("breaker", "closed") != "closed" or bool(details.get("stale_secrets"))


def _stale(details: dict[str, Any]) -> str:
    """ "; serving 1 secret stale (oldest 312 s)" when the agent's cache does, else ""."""
    stale: dict[str, float] = details.get("stale_secrets") or {}
    if not stale:
        return ""
    plural = "s" if len(stale) > 1 else ""
    return f"; serving {len(stale)} secret{plural} stale (oldest {max(stale.values()):.0f} s)"
