"""``send_alert`` from a script on the appliance host, outside the agent's process: an
AlertManager over the agent's own config and database, whose alerts go into the dispatcher's
table, where the running agent's dispatcher groups, silences, inhibits and routes them as
its own (the same pipeline; the agent's user or root can read the config and secrets)."""

from __future__ import annotations

import time

from appliance.alerting.dispatch.store import DispatchStore
from appliance.alerting.manager import AlertManager
from appliance.alerting.models import Alert
from appliance.alerting.service import AlertingService


class _DispatchTable:
    """The sink a script has: the dispatcher's table (the agent reads it every tick)."""

    def __init__(self, dispatch: DispatchStore) -> None:
        self._dispatch = dispatch

    def submit(self, alert: Alert) -> None:
        self._dispatch.upsert(alert, time.time())


def host_alert_manager() -> AlertManager:
    """The manager over the agent's config file (APPLIANCE_CONFIG_FILE, else
    /etc/sovereign/agent.toml) and its database; raises ConfigError or the store's error."""
    from appliance.config import load_settings
    from appliance.database.connect import open_store
    from appliance.secrets import build_secret_manager

    settings = load_settings()
    store = open_store(settings.database, build_secret_manager(settings.secrets))
    sink = _DispatchTable(DispatchStore(store))
    return AlertingService.build(settings.alerting.evaluation, store, dict, sink).manager
