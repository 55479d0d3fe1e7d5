"""Prometheus text exposition at /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import scrape_access
from api.schemas.errors import AUTH_ERRORS

router = APIRouter(tags=["prometheus"])


@router.get(
    "/metrics",
    response_class=Response,
    include_in_schema=True,
    dependencies=[Depends(scrape_access)],
    responses={
        **AUTH_ERRORS,
        200: {
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            "description": "The Prometheus text exposition.",
        },
    },
)
def prometheus_metrics(request: Request) -> Response:
    """Request metrics, vitals, service and pool gauges in the Prometheus text format. Needs a
    token of any role (a `scrape` one will do), or a request from [security] scrape_networks."""
    return Response(generate_latest(request.app.state.prometheus), media_type=CONTENT_TYPE_LATEST)
