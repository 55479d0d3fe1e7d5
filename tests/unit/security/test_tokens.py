"""API tokens on SQLite and PostgreSQL: only hashes stored, the cache, revocation, expiry."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from appliance.database.schema import api_tokens
from appliance.security.roles import Role
from appliance.security.tokens import (
    InvalidToken,
    TokenNameTaken,
    TokenNotFound,
    TokenService,
    hash_token,
)
from tests.unit.conftest import AgentDatabase
from tests.unit.security.conftest import Clock


def service(db: AgentDatabase, wall: Clock, mono: Clock, **kwargs: float) -> TokenService:
    return TokenService(db.store(), clock=wall, monotonic=mono, **kwargs)


def test_a_token_is_high_entropy_shown_once_and_stored_only_as_its_hash(
    agent_db: AgentDatabase,
) -> None:
    tokens = service(agent_db, Clock(), Clock())
    new = tokens.create("ops", Role.ADMIN, created_by="test")
    assert new.secret.startswith("sva_") and len(new.secret) == 47  # 32 random bytes
    assert new.secret not in repr(new)
    with agent_db.engine().connect() as c:
        stored = [tuple(r) for r in c.execute(select(api_tokens)).all()]
    assert not [v for row in stored for v in row if isinstance(v, str) and new.secret in v]
    assert stored[0][3] == hashlib.sha256(new.secret.encode()).hexdigest() == hash_token(new.secret)
    other = tokens.create("ops2", Role.ADMIN, created_by="test")
    assert other.secret != new.secret


def test_verify_list_and_revoke(agent_db: AgentDatabase) -> None:
    wall, mono = Clock(), Clock()
    tokens = service(agent_db, wall, mono)
    new = tokens.create("viewer-1", Role.VIEWER, created_by="test")
    info = tokens.verify(new.secret)
    assert (info.name, info.role, info.created_by) == ("viewer-1", Role.VIEWER, "test")
    assert [t.name for t in tokens.list()] == ["viewer-1"]
    with pytest.raises(TokenNameTaken):
        tokens.create("viewer-1", Role.ADMIN, created_by="test")
    revoked = tokens.revoke(info.id)  # by id; by name works as well (below)
    assert revoked.state(wall()) == "revoked"
    with pytest.raises(InvalidToken, match="revoked"):
        tokens.verify(new.secret)  # at once in this process: the cache entry went
    assert tokens.list() == [] and tokens.list(include_revoked=True)[0].name == "viewer-1"
    with pytest.raises(TokenNotFound):
        tokens.revoke("viewer-1")


@pytest.mark.parametrize(
    ("presented", "reason"),
    [("sva_" + "A" * 43, "unknown token"), ("bearer-junk", "malformed"), ("", "malformed")],
)
def test_bad_tokens_are_refused_with_a_reason(
    agent_db: AgentDatabase, presented: str, reason: str
) -> None:
    tokens = service(agent_db, Clock(), Clock())
    with pytest.raises(InvalidToken, match=reason):
        tokens.verify(presented)


def test_a_revocation_by_another_process_is_seen_within_the_cache_ttl(
    agent_db: AgentDatabase,
) -> None:
    wall, mono = Clock(), Clock()
    agent = service(agent_db, wall, mono, cache_ttl_s=10.0)
    cli = service(agent_db, wall, mono)
    new = cli.create("ops", Role.OPERATOR, created_by="cli:root")
    agent.verify(new.secret)
    cli.revoke("ops")
    mono.advance(9.0)
    assert agent.cached(new.secret) is not None  # still trusted from the cache
    mono.advance(1.0)
    assert agent.cached(new.secret) is None
    with pytest.raises(InvalidToken, match="revoked"):
        agent.verify(new.secret)


def test_an_expired_token_fails_even_from_the_cache(agent_db: AgentDatabase) -> None:
    wall, mono = Clock(), Clock()
    tokens = service(agent_db, wall, mono)
    new = tokens.create("temp", Role.VIEWER, created_by="test", expires_in_s=3600)
    tokens.verify(new.secret)
    wall.advance(3600)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.verify(new.secret)
    assert tokens.list()[0].state(wall()) == "expired"


def test_last_used_is_written_at_most_every_interval(agent_db: AgentDatabase) -> None:
    wall, mono = Clock(), Clock()
    tokens = service(agent_db, wall, mono, last_used_interval_s=60.0, cache_ttl_s=1000.0)
    new = tokens.create("ops", Role.VIEWER, created_by="test")
    tokens.verify(new.secret)
    first = tokens.get("ops").last_used_at
    assert first == wall()
    wall.advance(30)
    mono.advance(30)
    tokens.verify(new.secret)
    assert tokens.get("ops").last_used_at == first
    wall.advance(31)
    mono.advance(31)
    tokens.verify(new.secret)
    assert tokens.get("ops").last_used_at == wall()


def test_names_are_checked(agent_db: AgentDatabase) -> None:
    tokens = service(agent_db, Clock(), Clock())
    for bad in ("", ".hidden", "a b", "x" * 65, "a/b"):
        with pytest.raises(ValueError, match="invalid token name"):
            tokens.create(bad, Role.VIEWER, created_by="test")
