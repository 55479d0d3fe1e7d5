"""Errors the operator CLI reports as one clear line instead of a traceback."""


class SovereignError(Exception):
    """A failure the operator can act on; its message says what to do."""


class PrerequisiteError(SovereignError):
    """Something the host needs is missing (root, a tool, a package)."""
