"""Domain errors; api/errors.py maps each family to one HTTP status."""

from __future__ import annotations


class ApplianceError(Exception):
    """Base of the errors the API turns into responses."""


class NotFoundError(ApplianceError):
    """The named thing (metric, service, pool) does not exist."""


class UnknownMetric(NotFoundError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown metric {name!r}; known: {', '.join(known)}")


class UnknownService(NotFoundError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown service {name!r}; known: {', '.join(known) or 'none'}")


class NotYetAvailable(ApplianceError):
    """The background work has not produced a first result yet."""


class BackendUnavailable(ApplianceError):
    """A host facility (ZFS, the store) cannot answer right now."""
