"""The one error body every 4xx and 5xx of the agent has, and its OpenAPI declarations."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(description="Where: ['query', 'limit'], ['body', 'name']…")
    msg: str = Field(description="What is wrong with it.")
    type: str = Field(description="Pydantic's error type, e.g. 'greater_than_equal'.")


class ErrorDetail(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(
        description="Stable machine-readable cause: unauthenticated, forbidden, not_found, "
        "method_not_allowed, body_too_large, invalid_request, rate_limited, locked_out, "
        "too_many_failures, step_up_required, step_up_failed, step_up_unavailable, conflict, "
        "unavailable, internal_error…"
    )
    reason: str = Field(description="Why, for a person.")
    request_id: str = Field(description="Also in the X-Request-ID header and the audit log.")
    details: list[ValidationIssue] | None = Field(
        default=None, description="422 only: each invalid input (values are not echoed)."
    )


class ErrorOut(BaseModel):
    error: ErrorDetail


_DESCRIPTIONS = {
    400: "Malformed request: a body that cannot be parsed, an invalid Content-Length.",
    401: "No token, or not a valid one (header WWW-Authenticate: Bearer).",
    403: "The token's role is too small, or a TOTP step-up is needed and was not given.",
    404: "Unknown name; the reason says which are known.",
    409: "Conflicts with the current state.",
    413: "Request body larger than [security] max_body_bytes.",
    422: "Invalid input; details name each invalid field.",
    429: "Rate limited or locked out; header Retry-After says for how long.",
    503: "Not ready, or a backend (database, ZFS, Vault) is unavailable.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, all with the ErrorOut body."""
    return {s: {"model": ErrorOut, "description": _DESCRIPTIONS[s]} for s in statuses}


#: What every route behind a token may answer besides its own responses.
AUTH_ERRORS = error_responses(400, 401, 403, 413, 422, 429, 503)
