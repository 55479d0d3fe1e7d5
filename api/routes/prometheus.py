"""Prometheus text exposition at /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

router = APIRouter(tags=["prometheus"])


@router.get("/metrics", response_class=Response, include_in_schema=True)
def prometheus_metrics(request: Request) -> Response:
    """Request metrics, vitals, service and pool gauges in the Prometheus text format."""
    return Response(generate_latest(request.app.state.prometheus), media_type=CONTENT_TYPE_LATEST)
