"""The seal key's fact (output captured on lab host trb-1, and with neither key nor data) and
the rule the seal_key op follows: never a new key over Vault's data; a restored key gets its
owner and mode (tests/unit/ops/cases/vault.seal_key has the op's commands)."""

from __future__ import annotations

import pytest
from pyinfra.api import OperationError

from roles.vault.facts import parse_seal_key
from roles.vault.ops import plan_seal_key

DEPLOYED = ["root:vault 440", "vault-data"]  # a deployed host: key and raft data
FRESH = ["absent"]  # a new host: neither


def test_parse_captured_output() -> None:
    assert parse_seal_key(DEPLOYED) == {"key": "root:vault 440", "data": True}
    assert parse_seal_key(FRESH) == {"key": "", "data": False}
    assert parse_seal_key(["absent", "vault-data"]) == {"key": "", "data": True}
    assert parse_seal_key(["root:root 400", "vault-data"]) == {"key": "root:root 400", "data": True}


def test_plan() -> None:
    assert plan_seal_key(parse_seal_key(FRESH)) == "generate"
    assert plan_seal_key(parse_seal_key(DEPLOYED)) == "noop"
    assert plan_seal_key(parse_seal_key(["root:root 400", "vault-data"])) == "own"


def test_no_new_key_over_restored_data() -> None:
    """A rebuilt host whose tank/vault came back without its key: a generated key could never
    unseal that data (and the next init would be refused anyway): the deploy stops."""
    with pytest.raises(OperationError, match="sovereign rebuild"):
        plan_seal_key(parse_seal_key(["absent", "vault-data"]))
