"""The agent's EventBus on the lab host survives a broker outage: nothing lost, no duplicates.

Runs the agent's own code from its installed venv on the host, against the real broker unit.
"""

from __future__ import annotations

import json
import textwrap

from tests.lab.conftest import Deploys, ssh

SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys, time, uuid
    from pathlib import Path
    from appliance.events import EventBus, EventBusSettings

    bootstrap = sys.argv[1]
    work = Path("/var/tmp/eventbus-outage"); work.mkdir(exist_ok=True)
    topic = f"outage.{uuid.uuid4().hex[:8]}"
    settings = EventBusSettings(bootstrap_servers=bootstrap, outbox_path=work / "outbox.db",
                                session_timeout_ms=2000, stall_timeout_s=3)
    subprocess.run(["systemctl", "stop", "tansu.service"], check=True)
    bus = EventBus(settings)
    for i in range(100):
        bus.publish(topic, {"n": i}, key=f"k{i % 4}")
    pending = bus.health().backlog
    subprocess.run(["systemctl", "start", "tansu.service"], check=True)
    delivered = bus.wait_until_delivered(60)
    seen = []
    sub = bus.subscribe(topic, lambda e: seen.append((e.key, e.payload["n"], str(e.id))))
    deadline = time.monotonic() + 60
    while len(seen) < 100 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1)  # a duplicate would arrive now
    sub.stop(10); bus.close()
    print(json.dumps({"pending_while_down": pending, "delivered": delivered, "seen": seen}))
    """
)


def test_100_events_published_during_an_outage_arrive_once_in_order(
    lab: str, deploys: Deploys
) -> None:
    assert deploys.first.returncode == 0
    bootstrap = "127.0.0.1:9092"  # the broker listens on loopback (the agent's bootstrap)
    ssh(lab, f"cat > /var/tmp/outage.py <<'PY'\n{SCRIPT}\nPY")
    out = ssh(lab, f"/opt/sovereign/agent/bin/python /var/tmp/outage.py {bootstrap}").stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["pending_while_down"] == 100
    assert result["delivered"] is True
    seen = result["seen"]
    assert len(seen) == 100
    assert len({event_id for _, _, event_id in seen}) == 100  # exactly once
    for key in ("k0", "k1", "k2", "k3"):
        numbers = [n for k, n, _ in seen if k == key]
        assert numbers == sorted(numbers) and len(numbers) == 25  # in order per key
    assert ssh(lab, "systemctl is-active tansu.service").stdout.strip() == "active"
