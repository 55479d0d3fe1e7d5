"""Roles, ordered: each may do what the ones below it may.

- ``scrape``: only ``GET /metrics`` (a Prometheus server's token);
- ``viewer``: read everything (health details, monitoring, storage, docs);
- ``operator``: also acknowledge, silence, send notifications, start syncs (routes to come);
- ``admin``: also rules, channels, tokens, restores, the audit log; privileged operations
  among these also need a TOTP step-up (appliance/security/stepup.py).
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SCRAPE = "scrape"
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def allows(self, required: Role) -> bool:
        """Whether a token of this role may call a route that requires ``required``."""
        return _RANK[self] >= _RANK[required]


_RANK = {Role.SCRAPE: 0, Role.VIEWER: 1, Role.OPERATOR: 2, Role.ADMIN: 3}
