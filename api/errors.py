"""Domain errors -> HTTP, in one place. Bodies are ``{"detail": "<reason>"}`` like FastAPI's."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from appliance.database.errors import StoreError
from appliance.errors import BackendUnavailable, NotFoundError, NotYetAvailable

STATUS_BY_ERROR: dict[type[Exception], int] = {
    NotFoundError: 404,
    NotYetAvailable: 503,
    BackendUnavailable: 503,
    StoreError: 503,
}


def install_error_handlers(app: FastAPI) -> None:
    for error, status in STATUS_BY_ERROR.items():

        async def handler(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        app.add_exception_handler(error, handler)
