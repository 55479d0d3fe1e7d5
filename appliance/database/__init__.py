"""The agent's database: SQLAlchemy Core schema, Alembic migrations, one repository.

::

    from appliance.database.connect import open_store

    store = open_store(settings.database, secrets)   # no I/O yet
    store.prepare()                                  # migrate (and import old SQLite history)
    store.add_samples(ts, {"cpu_percent": 12.5})
    store.history("cpu_percent", since=ts - 3600)

Modules: ``settings`` (the config keys), ``schema`` (tables at head), ``engine`` (SQLite and
PostgreSQL engines), ``repository`` (Store, Sample), ``errors`` (StoreError and kin),
``migrate`` (Alembic run from code, with the lock), ``sqlite_import`` (SQLite → PostgreSQL
once), ``connect`` (all of it from settings). This file imports none of them: the operator's
deploy reads ``settings`` to validate agent.toml and must not pay for SQLAlchemy or Alembic.

PostgreSQL on the appliance (password from Vault), embedded SQLite for development and tests.
Migrations: ``python -m appliance.database upgrade|downgrade|current|history`` (see
``__main__``); they also run at agent start, one agent at a time.

Not here: the event bus's outbox (appliance/events/outbox.py) is its own local SQLite spool on
purpose, so events published while this database (or the broker) is down are kept.
"""
