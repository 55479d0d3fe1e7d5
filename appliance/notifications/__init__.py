"""Notifications: channels through Apprise, a durable outbox with a delivery worker, history.

One module per concern: ``settings`` ([notifications] in agent.toml), ``models`` (the values
and rules shared by the others), ``channels`` (Apprise URLs from a channel's options and its
credentials from the SecretManager), ``outbox`` (the database: notify, claims, attempts,
history), ``delivery`` (the worker: retries, breaker, dead letter).
"""
