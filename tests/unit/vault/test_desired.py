"""The pure parts of configuration as code: plan() over read_state()'s shape, the AppRole diff
and the PostgreSQL files still to move (test_live.py runs the same against a real server)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from roles.vault.converge import moves
from roles.vault.desired import (
    ADMIN_ROLE,
    AGENT_ROLE,
    BACKUP_POLICY,
    BACKUP_ROLE,
    DEPLOY_ROLE,
    Change,
    _role_differs,
    desired,
    plan,
)

WANT = desired("sovereign", "transit")


def converged() -> dict[str, Any]:
    """What read_state reports of a Vault configured as WANT (as a real one answers)."""
    roles = {}
    for name, params in WANT.approles.items():
        roles[name] = {
            **params,
            "secret_id_bound_cidrs": ["127.0.0.1"],  # Vault drops the /32
            "token_bound_cidrs": ["127.0.0.1"],
            "bind_secret_id": True,
            "token_type": "default",
            "policies": params["token_policies"],
        }
    return {
        "mounts": {
            "sovereign/": {"type": "kv", "options": {"version": "2"}},
            "transit/": {"type": "transit", "options": {}},
            "secret/": {"type": "kv", "options": {"version": "1"}},  # an operator's own
            "sys/": {"type": "system", "options": {}},
        },
        "auth": {"approle/": "approle", "token/": "token", "userpass/": "userpass"},
        "policies": {name: hcl + "\n" for name, hcl in WANT.policies.items()},
        "approles": roles,
        "transit_keys": [("transit", "agent")],
    }


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], []),
        (["sovereign.in-vault", "nextcloud.in-vault"], []),
        (
            ["nextcloud", "sovereign.in-vault", ".nextcloud.tmp", "zeta", "alpha"],
            ["alpha", "nextcloud", "zeta"],
        ),
        (["in-vault"], ["in-vault"]),  # only the suffix marks a moved file
    ],
)
def test_moves(names: list[str], expected: list[str]) -> None:
    assert moves(names) == expected


@pytest.mark.parametrize(
    ("have", "differs"),
    [
        ({"secret_id_bound_cidrs": ["127.0.0.1"]}, []),
        ({"secret_id_bound_cidrs": ["127.0.0.1/32"]}, []),
        ({"secret_id_bound_cidrs": ["127.0.0.2"]}, ["secret_id_bound_cidrs"]),
        ({"secret_id_bound_cidrs": ["127.0.0.0/8"]}, ["secret_id_bound_cidrs"]),
        ({"secret_id_bound_cidrs": []}, ["secret_id_bound_cidrs"]),
        ({"secret_id_bound_cidrs": None}, ["secret_id_bound_cidrs"]),
        ({"secret_id_bound_cidrs": ["127.0.0.1", "10.0.0.0/8"]}, ["secret_id_bound_cidrs"]),
        ({"token_policies": ["b", "a"]}, []),  # order does not matter
        ({"token_policies": ["a"]}, ["token_policies"]),
        ({"token_ttl": 60}, ["token_ttl"]),
        ({"token_ttl": None}, ["token_ttl"]),
        ({"unmanaged": "anything"}, []),  # keys not declared are not compared
    ],
)
def test_role_differs(have: dict[str, Any], differs: list[str]) -> None:
    want = {
        "secret_id_bound_cidrs": ["127.0.0.1/32"],
        "token_policies": ["a", "b"],
        "token_ttl": 3600,
    }
    current = {
        "secret_id_bound_cidrs": ["127.0.0.1"],
        "token_policies": ["a", "b"],
        "token_ttl": 3600,
    }
    assert _role_differs(want, {**current, **have}) == differs


def test_role_differs_names_every_differing_key_in_declared_order() -> None:
    want = {"token_ttl": 1, "token_bound_cidrs": ["::1"], "token_max_ttl": 2}
    assert _role_differs(want, {"token_bound_cidrs": ["::1/128"]}) == ["token_ttl", "token_max_ttl"]


def test_plan_on_an_empty_vault_creates_everything_in_order() -> None:
    changes = plan(
        WANT, {"mounts": {}, "auth": {}, "policies": {}, "approles": {}, "transit_keys": []}
    )
    assert [str(c) for c in changes] == [
        "mount sovereign/: enable kv",
        "mount transit/: enable transit",
        "auth approle/: enable approle",
        f"policy {AGENT_ROLE}: create",
        f"policy {ADMIN_ROLE}: create",
        f"policy {BACKUP_ROLE}: create",
        f"approle {AGENT_ROLE}: create",
        f"approle {DEPLOY_ROLE}: create",
        f"approle {BACKUP_ROLE}: create",
        f"approle {ADMIN_ROLE}: create",
        "transit-key transit/agent: create",
        # Last: once it is in force the deploy may not touch the break-glass objects.
        f"policy {DEPLOY_ROLE}: create",
    ]
    assert changes[0].spec == {"type": "kv", "options": {"version": "2"}}
    assert changes[6].spec["token_policies"] == [AGENT_ROLE]
    assert plan(WANT, {}) == changes  # read_state of nothing at all


def test_plan_of_a_converged_vault_is_empty_and_ignores_what_operators_added() -> None:
    assert plan(WANT, converged()) == []


def test_plan_reports_exactly_what_drifted() -> None:
    have = converged()
    have["policies"][AGENT_ROLE] = have["policies"][AGENT_ROLE].replace('"read"]', '"list"]')
    have["approles"][DEPLOY_ROLE]["token_ttl"] = 60
    have["approles"][AGENT_ROLE]["token_bound_cidrs"] = ["0.0.0.0/0"]
    have["transit_keys"] = []
    assert [str(c) for c in plan(WANT, have)] == [
        f"policy {AGENT_ROLE}: rules differ",
        f"approle {AGENT_ROLE}: token_bound_cidrs differ",
        f"approle {DEPLOY_ROLE}: token_ttl differ",
        "transit-key transit/agent: create",
    ]


def test_kv_version_1_is_upgraded() -> None:
    have = converged()
    have["mounts"]["sovereign/"]["options"] = {"version": "1"}
    assert plan(WANT, have) == [Change("mount", "sovereign/", "upgrade to KV v2")]
    have["mounts"]["sovereign/"]["options"] = None  # Vault reports none for a v1 made long ago
    assert plan(WANT, have) == [Change("mount", "sovereign/", "upgrade to KV v2")]


@pytest.mark.parametrize(("path", "other"), [("sovereign/", "transit"), ("transit/", "kv")])
def test_a_mount_of_another_type_is_refused(path: str, other: str) -> None:
    have = converged()
    have["mounts"][path] = {"type": other, "options": {}}
    before = copy.deepcopy(have)
    with pytest.raises(ValueError, match=rf"mount {path} is a {other} engine.*move it away"):
        plan(WANT, have)
    assert have == before


def test_desired_follows_the_mount_names() -> None:
    want = desired("kv2", "crypt")
    assert set(want.mounts) == {"kv2/", "crypt/"}
    assert want.transit_keys == [("crypt", "agent")]
    agent = want.policies[AGENT_ROLE]
    assert 'path "kv2/data/agent/*"' in agent
    assert 'path "kv2/data/postgres/sovereign"' in agent
    assert 'path "crypt/encrypt/agent"' in agent
    assert "sovereign/" not in agent.replace("Sovereign Appliance", "")
    deploy = want.policies[DEPLOY_ROLE]
    assert 'path "kv2/data/postgres/*"' in deploy
    assert "agent/" not in deploy  # the deploy never reads the agent's secrets
    assert 'path "sys/seal' not in deploy
    assert want.approles[DEPLOY_ROLE]["token_ttl"] < want.approles[AGENT_ROLE]["token_ttl"]
    for role in want.approles.values():
        assert role["secret_id_bound_cidrs"] == ["127.0.0.1/32"]
        assert role["token_bound_cidrs"] == ["127.0.0.1/32"]


def test_upgrading_deploy_policy_comes_after_the_break_glass_objects() -> None:
    """A Vault configured before the break-glass role existed: the old, wider deploy policy
    still lets the deploy create it, then the deploy narrows its own policy."""
    have = converged()
    have["policies"][DEPLOY_ROLE] = "old rules"
    del have["policies"][ADMIN_ROLE]
    have["approles"][ADMIN_ROLE] = None
    assert [str(c) for c in plan(WANT, have)] == [
        f"policy {ADMIN_ROLE}: create",
        f"approle {ADMIN_ROLE}: create",
        f"policy {DEPLOY_ROLE}: rules differ",
    ]


def test_the_backup_approle_may_read_a_raft_snapshot_and_nothing_else() -> None:
    assert WANT.policies[BACKUP_ROLE] == BACKUP_POLICY
    paths = [line for line in BACKUP_POLICY.splitlines() if line.startswith("path ")]
    assert paths == ['path "sys/storage/raft/snapshot" {']
    assert '["read"]' in BACKUP_POLICY
    role = WANT.approles[BACKUP_ROLE]
    assert role["token_policies"] == [BACKUP_ROLE]
    assert role["secret_id_bound_cidrs"] == role["token_bound_cidrs"] == ["127.0.0.1/32"]
    assert role["token_ttl"] <= 300
