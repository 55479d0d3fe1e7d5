"""Composition root: builds the agent's services from settings and runs their lifecycle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from appliance.alerting.dispatch.dispatcher import Dispatcher
from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.manager import set_alert_manager
from appliance.alerting.service import AlertingService
from appliance.alerting.sources import AgentFacts, CertificateReader
from appliance.brokermon.service import BrokerMonitors
from appliance.config import Settings
from appliance.database.connect import open_store
from appliance.database.errors import DatabaseUnavailable, StoreError
from appliance.database.repository import Store
from appliance.events import EventBus
from appliance.health.backups import BackupsCheck
from appliance.health.checks import AgentCheck, HostCheck
from appliance.health.monitor import HealthMonitor
from appliance.health.registry import HealthCheck, HealthRegistry
from appliance.health.services import BrokerCheck, PostgresCheck, VaultCheck
from appliance.infrastructure.service import InfrastructureService
from appliance.lifecycle import Lifecycle, LifecycleState
from appliance.logs import sentry as error_reports
from appliance.monitoring import MonitoringService
from appliance.notifications.channels import trust
from appliance.notifications.declared import keep_declaring
from appliance.notifications.deliverer import DeliveryProcess
from appliance.notifications.service import NotificationService
from appliance.performance import RequestStats
from appliance.secrets import SecretManager, build_secret_manager
from appliance.security.service import Security
from appliance.storage.backends import detect_backend
from appliance.storage.check import ZfsPoolsCheck
from appliance.storage.levels import LevelLimits
from appliance.storage.service import StorageService, ZfsBackend
from appliance.totp import TotpService
from appliance.vitals.models import RawSnapshot
from appliance.vitals.sampler import VitalsSampler
from appliance.vitals.units import UnitCpuReader

log = logging.getLogger(__name__)


@dataclass
class AgentRuntime:
    settings: Settings
    lifecycle: Lifecycle
    store: Store | None
    sampler: VitalsSampler
    health: HealthMonitor
    requests: RequestStats
    monitoring: MonitoringService
    infrastructure: InfrastructureService
    storage: StorageService
    #: The agent's secrets (env, Vault or AWS behind a TTL cache).
    secrets: SecretManager
    #: TOTP second factor, when ``[totp]`` is configured.
    totp: TotpService | None = None
    #: The event bus, opened at start when configured (its outbox keeps events while the
    #: broker is away).
    events: EventBus | None = None
    #: Tokens, rate limits, step-up and the audit log; None without a database (then every
    #: route but /health answers 503).
    security: Security | None = None
    #: Notifications (outbox, delivery worker); None without a database.
    notifications: NotificationService | None = None
    #: The alert dispatcher (routing, grouping, silences, escalation): the sink evaluated
    #: alerts are submitted to; None without a database.
    dispatcher: Dispatcher | None = None
    #: Alert rules, their evaluation loop and send_alert; None without a database.
    alerting: AlertingService | None = None
    #: The Kafka and end-to-end latency monitors (appliance/brokermon); None without a bus.
    monitors: BrokerMonitors | None = None
    #: Deliver notifications from a child process (deliverer.py) when ``[notifications]
    #: worker_process`` allows: only for an agent whose store and secrets the child can open
    #: again from the same configuration (sovereign-agent's; not one built with injected parts).
    separate_delivery: bool = False
    _delivery: DeliveryProcess | None = field(default=None, init=False, repr=False)
    _pruning: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _declaring: asyncio.Task[object] | None = field(default=None, init=False, repr=False)
    _error_reports: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        collect: Callable[[], RawSnapshot] | None = None,
        store: Store | None = None,
        open_default_store: bool = True,
        infrastructure: InfrastructureService | None = None,
        checks: list[HealthCheck] | None = None,
        zfs_backend: Callable[[], ZfsBackend] | None = None,
        secrets: SecretManager | None = None,
    ) -> AgentRuntime:
        """Every collaborator can be injected, so tests run without a host or a database."""
        # No I/O here: the Vault backend logs in on first use, so the agent starts (and reports
        # vault down) while Vault is sealed.
        secrets = secrets or build_secret_manager(settings.secrets)
        if store is None and open_default_store:
            store = open_store(settings.database, secrets)  # no I/O: migrated in start()
        if collect is None:
            from appliance.vitals.collector import PsutilCollector

            collect = PsutilCollector().collect
        sampler = VitalsSampler(collect, settings, store)
        registry = HealthRegistry(settings.health_timeout_s)
        registry.register(AgentCheck(sampler, settings.sample_interval_s))
        registry.register(HostCheck(sampler))
        storage = StorageService(
            zfs_backend
            or (lambda: detect_backend(settings.zfs_backend, settings.zfs_command_timeout_s)),
            settings.zfs_pools,
            settings.storage_cache_ttl_s,
            limits=LevelLimits(
                settings.storage_thresholds,
                settings.thresholds.disk_warning,
                settings.thresholds.disk_critical,
            ),
        )
        registry.register(ZfsPoolsCheck(storage))
        registry.register(BackupsCheck())  # reports only the kinds deployed on the host
        if settings.postgres_health_dsn is not None:
            password_secret = settings.postgres_password_secret
            registry.register(
                PostgresCheck(
                    settings.postgres_health_dsn.get_secret_value(),
                    secrets=secrets if password_secret else None,
                    password_secret=password_secret,
                )
            )
        if settings.secrets.backend == "vault":
            registry.register(
                VaultCheck(settings.secrets.vault, secrets.status, recover=secrets.recover)
            )
        if settings.events is not None:
            registry.register(BrokerCheck(settings.events.client_config()))
        monitors = BrokerMonitors.build(settings.brokermon, settings.events, store)
        for check in monitors.checks() if monitors is not None else []:
            registry.register(check)
        for check in checks or []:
            registry.register(check)
        health = HealthMonitor(registry, settings.health_interval_s)
        requests = RequestStats()
        totp = TotpService(secrets, settings.totp) if settings.totp is not None else None
        if settings.notifications.ca_bundle is not None:
            trust(settings.notifications.ca_bundle)
        notifications = (
            None
            if store is None
            else NotificationService.build(settings.notifications, store, secrets)
        )
        dispatcher = (
            None
            if store is None or notifications is None
            else Dispatcher(
                DispatchStore(store),
                notifications,
                settings.alerting.dispatch,
                settings.alerting.routing,
            )
        )
        facts = AgentFacts(
            sampler.latest,
            lambda: health.last,
            storage.last_report,
            CertificateReader(settings.alerting.evaluation.certificates),
            UnitCpuReader(settings.systemd_units),
            extra=[monitors.facts] if monitors is not None else [],
        )
        alerting = (
            None
            if store is None or dispatcher is None
            else AlertingService.build(
                settings.alerting.evaluation,
                store,
                facts.gather,
                dispatcher,
                thresholds=settings.storage_thresholds,
                monitors=settings.brokermon,
            )
        )
        if alerting is not None and facts.units is not None:
            facts.units.wanted = alerting.rule_services  # a rule's service is read too
        return cls(
            settings=settings,
            lifecycle=Lifecycle(),
            store=store,
            sampler=sampler,
            health=health,
            requests=requests,
            monitoring=MonitoringService(sampler, store, health, requests),
            infrastructure=infrastructure
            or InfrastructureService(settings.systemd_units, settings.command_timeout_s),
            storage=storage,
            secrets=secrets,
            totp=totp,
            security=None if store is None else Security.build(settings.security, store, totp),
            notifications=notifications,
            dispatcher=dispatcher,
            alerting=alerting,
            monitors=monitors,
        )

    async def start(self, background: bool = True) -> None:
        """Take a first sample and a first health round before reporting Ready.

        ``background=False`` skips the threads/tasks (tests drive them by hand).
        """
        log.info("agent starting; store %s", self.store.description if self.store else "none")
        if self.store is not None:
            self._prepare_store(self.store)
        if self.notifications is not None:
            # The inventory's channels exist before the worker delivers to them, and the ones
            # it no longer declares go (also when it declares none).
            declared = self.settings.notifications.channels
            declaring = keep_declaring(
                self.notifications.outbox,
                declared,
                retire_every_s=60.0 if background else None,
                retry=background or bool(declared),
            )
            if background:
                self._declaring = asyncio.create_task(declaring)
            else:
                await declaring
        self.sampler.sample_once()
        if background:
            self.sampler.start()
        if background and self.settings.events is not None and self.events is None:
            self.events = EventBus(self.settings.events)
        if background and self.monitors is not None:
            self.monitors.start(self.events)
        await self.health.run_once()
        if background:
            self.health.start()
        if background and self.notifications is not None and self.settings.notifications.enabled:
            self._start_delivery(self.notifications)
        if background and self.dispatcher is not None and self.dispatcher.settings.enabled:
            self.dispatcher.start()
        if self.alerting is not None:
            self._start_alerting(self.alerting, background)
        if background and self.security is not None and self._pruning is None:
            self._pruning = asyncio.create_task(self.security.keep_pruning())
        if background and self.settings.errors.dsn_secret and self._error_reports is None:
            self._error_reports = asyncio.create_task(
                error_reports.keep_trying(self.settings.errors, self.secrets)
            )
        if self.lifecycle.state is LifecycleState.STARTING:
            self.lifecycle.transition(LifecycleState.READY)

    def _start_delivery(self, notifications: NotificationService) -> None:
        if not (self.separate_delivery and self.settings.notifications.worker_process):
            notifications.worker.start()
            return
        outbox, hub = notifications.outbox, notifications.hub

        def written(nid: int) -> None:  # a dead letter's notification: the hub pushes it too
            item = outbox.get(nid)
            if item is not None:
                hub.signal(item.user_id, [item])

        self._delivery = DeliveryProcess(written)
        outbox.on_write = self._delivery.wake
        self._delivery.start()

    def _start_alerting(self, alerting: AlertingService, background: bool) -> None:
        bus = self.events
        if bus is not None:
            alerting.evaluator.pipeline.publish = lambda t, p, k: bus.publish(t, p, key=k)
        set_alert_manager(alerting.manager)
        try:
            alerting.seed()  # the built-in rules, listed from the start
        except StoreError as exc:  # DatabaseUnavailable too: the loop seeds when it can
            log.error("built-in alert rules not seeded yet: %s", exc)
        if background and self.settings.alerting.evaluation.enabled:
            alerting.start()

    @staticmethod
    def _prepare_store(store: Store) -> None:
        """Migrate before the first sample. A database out of reach does not stop the agent
        (the store tries again on use, the agent check says why); a schema this code cannot
        use (SchemaError: e.g. migrated by a newer agent) does: it propagates."""
        try:
            store.prepare()
        except DatabaseUnavailable as exc:
            log.error("history store not ready, will retry: %s", exc)

    async def stop(self) -> None:
        if self.lifecycle.state in (LifecycleState.STARTING, LifecycleState.READY):
            self.lifecycle.transition(LifecycleState.DRAINING)
        await self.health.stop()
        self.sampler.stop()
        if self.alerting is not None:
            await self.alerting.stop()
            set_alert_manager(None)
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.notifications is not None:
            await self.notifications.worker.stop()
            self.notifications.outbox.on_write = None
        if self._delivery is not None:
            await self._delivery.stop()
            self._delivery = None
        if self._pruning is not None:
            self._pruning.cancel()
            self._pruning = None
        if self._declaring is not None:
            self._declaring.cancel()
            self._declaring = None
        if self._error_reports is not None:
            self._error_reports.cancel()
            self._error_reports = None
            await asyncio.to_thread(error_reports.stop_error_tracking)
        if self.monitors is not None:
            await self.monitors.stop()
        if self.events is not None:
            self.events.close()
            self.events = None
        if self.store is not None:
            self.store.close()
        self.secrets.close()  # revokes the Vault token, best effort
        self.lifecycle.transition(LifecycleState.STOPPED)
        log.info("agent stopped")
