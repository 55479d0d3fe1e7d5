"""A sync worker in a process of its own, for the SIGKILL test: settings and credentials from
the environment (a test's stand-in and keys); runs its jobs, retries included, to their end."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from appliance.database.connect import open_sqlite
from appliance.sync.service import SyncService
from appliance.sync.settings import SyncSettings
from appliance.sync.store import SyncStore


def main() -> None:
    settings = SyncSettings.model_validate(json.loads(os.environ["SYNC_SETTINGS"]))
    password, identity = os.environ["SYNC_PASSWORD"], os.environ["SYNC_IDENTITY"]
    store = SyncStore(open_sqlite(Path(os.environ["SYNC_DATABASE"]), 30.0))
    service = SyncService(settings, store, lambda: (password, identity))
    print("started", flush=True)
    while service.store.next_due_at() is not None:  # until every job is synced or failed
        if not service.run_due():
            time.sleep(0.05)
    sys.exit(0)


if __name__ == "__main__":
    main()
