"""Issue 13's alerting drills on a deployed lab host, part 2: the dispatcher's decisions,
each seen at the receivers. A silence holds a firing alert back and its expiry lets it go;
an inhibited alert is not sent (and is once its inhibitor resolves); an unacknowledged
critical alert escalates to the next step's receivers and an acknowledgement stops it; and
the agent killed with SIGKILL while one alert fires and another resolves repeats nothing
early, sends the resolve it owed and tells of a condition that began while it was down.

The alerts come from rules made here that fire on the next round (the host's CPU >= 0 %) and
resolve when disabled; the drills' routing (tests/lab/inventories/alert_drill_settings.py)
gives each alert its own group, an inhibit rule and an escalation policy of their own."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.lab.conftest import agent_pid, ssh
from tests.lab.inventories.alert_drill_settings import (
    ESCALATION_STEPS_MIN,
    KILL9_GROUP_INTERVAL_S,
)
from tests.lab.test_alert_drills import DrillLab, Receipt, firing, resolved


@pytest.fixture(scope="module")
def drill(alert_drill_lab: DrillLab) -> DrillLab:
    return alert_drill_lab


@pytest.fixture
def rules(drill: DrillLab) -> Iterator[list[str]]:
    """Rule ids the drill makes; disabled afterwards (their alerts resolve)."""
    made: list[str] = []
    yield made
    drill.answering()  # the kill -9 drill restarts it
    for rule_id in made:
        drill.retire(rule_id)


def count(receipts: list[Receipt], alertname: str, since: float, *, resolve: bool) -> int:
    return sum(
        1
        for r in receipts
        if r.at >= since and r.names(alertname) and r.resolved is resolve and r.channel == "hook"
    )


def none_for(drill: DrillLab, alertname: str, since: float, seconds: float) -> None:
    """No firing ``alertname`` reaches any receiver for ``seconds`` from now (a resolve of an
    earlier run's alert may). The window is on the host's clock, the receipts' clock: a look
    over SSH that ends after it does not count what arrived after it."""
    until = drill.now() + seconds
    while True:
        late = drill.now() >= until
        got = [r for r in drill.receipts() if r.at < until and firing(alertname, since)(r)]
        assert not got, f"{alertname} was notified: {[(r.channel, r.subject) for r in got]}"
        if late:
            return
        time.sleep(1.0)


# 3. A silence ---------------------------------------------------------------------------------


def test_a_silence_holds_a_firing_alert_and_its_expiry_releases_it(
    drill: DrillLab, rules: list[str]
) -> None:
    name, hold_s = "DrillSilenced", 20.0
    since = drill.now()
    silence = drill.ok("POST", "/api/silences", {
        "matchers": [f"alertname={name}"], "duration_s": hold_s, "comment": "lab drill",
    })  # fmt: skip
    rules.append(drill.rule(name, "error", "silence"))
    deadline = time.monotonic() + 30
    while (alert := drill.alert(name)) is None or alert["status"] != "firing":
        assert time.monotonic() < deadline, "the drill's alert never fired"
        time.sleep(0.5)
    assert alert["silenced_by"] == [silence["id"]]
    # Firing, silenced: nothing is sent until the silence ends.
    none_for(drill, name, since, silence["ends_at"] - drill.now() - 1.0)
    got = drill.wait_for("released by the expiry", firing(name, since), timeout_s=30)
    after = {c: round(r.at - silence["ends_at"], 2) for c, r in got.items()}
    print(f"\nsilence expired → notification: {after} s")
    assert all(r.at >= silence["ends_at"] for r in got.values())
    assert drill.alert(name)["silenced_by"] == []  # type: ignore[index]


# 4. Inhibition -------------------------------------------------------------------------------


def test_an_inhibited_alert_is_not_sent_until_its_inhibitor_resolves(
    drill: DrillLab, rules: list[str]
) -> None:
    since = drill.now()
    rules.append(source := drill.rule("DrillInhibitor", "critical", "inhibition"))
    drill.wait_for("the inhibitor", firing("DrillInhibitor", since), timeout_s=30)
    rules.append(drill.rule("DrillInhibited", "warning", "inhibition"))
    deadline = time.monotonic() + 30
    while (alert := drill.alert("DrillInhibited")) is None or alert["status"] != "firing":
        assert time.monotonic() < deadline, "the inhibited rule never fired"
        time.sleep(0.5)
    assert alert["inhibited"] is True
    none_for(drill, "DrillInhibited", since, 10.0)  # five group intervals
    released = drill.now()
    drill.retire(source)
    drill.wait_for("released when the inhibitor resolved", firing("DrillInhibited", released))
    drill.wait_for("the inhibitor's resolve", resolved("DrillInhibitor", released))


# 5. Escalation -------------------------------------------------------------------------------


def test_an_unacknowledged_critical_alert_escalates_and_an_ack_stops_it(
    drill: DrillLab, rules: list[str]
) -> None:
    name = "DrillEscalation"
    since = drill.now()
    rules.append(rule_id := drill.rule(name, "critical", "escalation"))
    first = drill.wait_for("the page", firing(name, since), timeout_s=30)
    step1 = drill.wait_for(
        "escalation step 1", lambda r: r.at >= since and "step 1" in r.subject + r.text,
        channels=("oncall",), timeout_s=60,
    )["oncall"]  # fmt: skip
    received_at = drill.alert(name)["received_at"]  # type: ignore[index]
    print(f"\nescalation step 1 after {step1.at - received_at:.1f} s "
          f"(policy: {ESCALATION_STEPS_MIN[0] * 60:.0f} s); page after "
          f"{first['hook'].at - received_at:.1f} s")  # fmt: skip
    assert step1.at >= received_at + ESCALATION_STEPS_MIN[0] * 60
    assert name in step1.subject + step1.text
    acked = drill.ok("POST", f"/api/alerts/{rule_id}/ack")
    assert len(acked["acknowledged"]) == 1
    # Step 2 would be due at received_at + 36 s: acknowledged, it never comes.
    step2_due = received_at + ESCALATION_STEPS_MIN[1] * 60
    while drill.now() < step2_due + 8:
        time.sleep(1.0)
    late = [r for r in drill.receipts() if r.channel == "oncall" and r.at >= since]
    assert [r for r in late if "step 2" in r.subject + r.text] == []
    assert len(late) == 1
    assert drill.alert(name)["acked_by"]  # type: ignore[index]


# 6. kill -9 ------------------------------------------------------------------------------------


@pytest.fixture
def one_disk_back(drill: DrillLab) -> Iterator[None]:
    yield
    ssh(drill.name, "zpool online tank /lab/disks/disk3", check=False)


def test_kill_9_repeats_nothing_early_sends_the_owed_resolve_and_the_new_condition(
    drill: DrillLab, rules: list[str], one_disk_back: None
) -> None:
    keeps, ends = "DrillKillFiring", "DrillKillResolving"
    since = drill.now()
    rules.append(drill.rule(keeps, "error", "kill9"))
    rules.append(ends_id := drill.rule(ends, "error", "kill9"))
    drill.wait_for("both fire", lambda r: r.at >= since and r.names(keeps), timeout_s=30)
    told = drill.wait_for("both fire", firing(ends, since), timeout_s=30)["hook"].at
    drill.retire(ends_id)  # resolved now; its resolve may go KILL9_GROUP_INTERVAL_S after `told`
    assert drill.alert(ends)["status"] == "resolved"  # type: ignore[index]
    before = agent_pid(drill.name)
    # Killed before the resolve was due; a disk fails while the agent is down. (`systemctl
    # kill -s KILL` fails in the nspawn host, "Failed to send signal SIGKILL to auxiliary
    # processes: Input/output error": kill -9 of the main PID is what it means.)
    out = ssh(
        drill.name,
        f"date +%s.%N && kill -9 {before} && zpool offline tank /lab/disks/disk3 && date +%s.%N",
    ).stdout.split()
    killed, degraded = float(out[0]), float(out[1])
    assert killed < told + KILL9_GROUP_INTERVAL_S, "killed too late: the resolve was already due"
    deadline = time.monotonic() + 90
    while agent_pid(drill.name) in (0, before):
        assert time.monotonic() < deadline, "systemd did not restart the agent"
        time.sleep(0.5)
    owed = drill.wait_for("the owed resolve", resolved(ends, killed), timeout_s=90)
    new = drill.wait_for("the condition begun while down", firing("PoolDegraded", degraded),
                         timeout_s=90)  # fmt: skip
    print(f"\nkill -9 at +0: owed resolve at "
          f"{ {c: round(r.at - killed, 1) for c, r in owed.items()} } s, new PoolDegraded at "
          f"{ {c: round(r.at - killed, 1) for c, r in new.items()} } s")  # fmt: skip
    # Not before its group interval (give or take the two deliveries' own latency).
    assert all(r.at >= told + KILL9_GROUP_INTERVAL_S - 2.0 for r in owed.values())
    none_for(drill, keeps, killed, 10.0)  # and nothing of the one still firing
    got = drill.receipts()
    assert count(got, keeps, since, resolve=False) == 1  # told once, before the kill
    assert count(got, ends, since, resolve=True) == 1  # resolved once, after it
    assert count(got, "PoolDegraded", degraded, resolve=False) == 1
