"""Monitors of the appliance's data plane on the broker (issue 15, items 5 and 6).

- kafka.py: broker reachability, topics and partitions, consumer-group lag (lag.py), sampled
  in the background;
- latency.py: the end-to-end latency probe (event bus → broker → agent → PostgreSQL commit),
  percentiles over a window (window.py) and the spec's ``get_average_latency()``
  (``from appliance.brokermon.latency import get_average_latency``).

Both are read by health checks (checks.py), alert rules (facts.py; the built-in rules are in
appliance/alerting/builtin.py), Prometheus and ``/api/monitoring/latency|kafka``. Nothing is
imported here: the agent's settings import settings.py, and the roles import those.
"""
