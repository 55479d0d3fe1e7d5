"""Errors -> HTTP, in one place, with one body shape for every status::

    {"error": {"status": 401, "code": "unauthenticated", "reason": "…", "request_id": "…"}}

(422 adds ``details``: where and what, never the rejected value). Domain errors map by class;
FastAPI's own (404, 405, 422) and Starlette's are rewritten into the same shape; anything
unexpected is a 500 whose reason points at the agent's log by request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from appliance.database.errors import StoreError
from appliance.errors import BackendUnavailable, NotFoundError, NotYetAvailable
from appliance.security.stepup import StepUpError
from appliance.security.tokens import TokenNameTaken

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}

STATUS_BY_ERROR: dict[type[Exception], int] = {
    NotFoundError: 404,
    NotYetAvailable: 503,
    BackendUnavailable: 503,
    StoreError: 503,
    TokenNameTaken: 409,
    StepUpError: 403,
}


class ApiError(Exception):
    """Raised by dependencies and routes for a response with the uniform body."""

    def __init__(
        self,
        status: int,
        reason: str,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.reason = reason
        self.headers = dict(headers or {})


def request_id_of(scope_state: Mapping[str, Any] | None) -> str:
    return str((scope_state or {}).get("request_id", ""))


def error_body(
    status: int,
    code: str,
    reason: str,
    request_id: str,
    details: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "status": status,
        "code": code,
        "reason": reason,
        "request_id": request_id,
    }
    if details is not None:
        error["details"] = details
    return {"error": error}


def error_response(
    status: int,
    reason: str,
    request_id: str,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    details: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    body = error_body(status, code or CODES.get(status, "error"), reason, request_id, details)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _rid(request: Request) -> str:
    return request_id_of(request.scope.get("state"))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.reason, _rid(request), exc.code, exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    path = request.url.path[:200]
    headers = dict(exc.headers or {})
    if status == 404:
        reason = f"no route {path}"
    elif status == 405:
        # Starlette names the methods of the first route on the path only.
        allowed = ", ".join(allowed_methods(request))
        headers = {"Allow": allowed}
        reason = f"method {request.method[:32]!r} is not allowed on {path}; allowed: {allowed}"
    elif status == 400:
        reason = f"malformed request: {exc.detail}"
    else:
        reason = str(exc.detail)
    return error_response(status, reason, _rid(request), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes on this path."""
    from api.middleware import KNOWN_METHODS

    found = []
    for method in sorted(KNOWN_METHODS):
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] is Match.FULL for route in request.app.router.routes):
            found.append(method)
    return found


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    reason = (
        "; ".join(f"{'.'.join(str(p) for p in d['loc'])}: {d['msg']}" for d in details[:5])
        or "invalid request"
    )
    return error_response(422, reason, _rid(request), details=details)


def _domain_handler(status: int) -> Any:
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        code = getattr(exc, "code", None) if isinstance(exc, StepUpError) else None
        return error_response(status, str(exc), _rid(request), code)

    return handler


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    rid = _rid(request)
    log.exception("request %s failed", rid, exc_info=exc)
    return error_response(500, f"internal error; the agent's log has it (request {rid})", rid)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error, status in STATUS_BY_ERROR.items():
        app.add_exception_handler(error, _domain_handler(status))
    app.add_exception_handler(Exception, _unexpected)
