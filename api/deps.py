"""Typed dependencies. The runtime is built in the app's lifespan and kept on app.state.

All are ``async def`` though none awaits: FastAPI runs a plain ``def`` dependency in the
threadpool, a thread hop per dependency per request (measured: most of /health's own time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from api.errors import ApiError
from appliance.config import Settings
from appliance.config import get_settings as _cached_settings
from appliance.infrastructure.service import InfrastructureService
from appliance.monitoring import MonitoringService
from appliance.runtime import AgentRuntime
from appliance.storage.service import StorageService


async def get_runtime(request: Request) -> AgentRuntime:
    runtime: AgentRuntime = request.app.state.runtime
    return runtime


T = TypeVar("T")


def database_backed(request: Request, what: str, pick: Callable[[AgentRuntime], T | None]) -> T:
    """A service the runtime has only with the agent's database (notifications, alerting);
    without it a 503 that says so (``what`` begins the reason, e.g. "alerting needs")."""
    runtime: AgentRuntime | None = getattr(request.app.state, "runtime", None)
    service = None if runtime is None else pick(runtime)
    if service is None:
        raise ApiError(503, f"{what} the agent's database, which is not open")
    return service


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with; falls back to the process-wide cached ones."""
    runtime: AgentRuntime | None = getattr(request.app.state, "runtime", None)
    return runtime.settings if runtime is not None else _cached_settings()


async def get_monitoring(
    runtime: Annotated[AgentRuntime, Depends(get_runtime)],
) -> MonitoringService:
    return runtime.monitoring


async def get_infrastructure(
    runtime: Annotated[AgentRuntime, Depends(get_runtime)],
) -> InfrastructureService:
    return runtime.infrastructure


async def get_storage(runtime: Annotated[AgentRuntime, Depends(get_runtime)]) -> StorageService:
    return runtime.storage


RuntimeDep = Annotated[AgentRuntime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
MonitoringDep = Annotated[MonitoringService, Depends(get_monitoring)]
InfrastructureDep = Annotated[InfrastructureService, Depends(get_infrastructure)]
StorageDep = Annotated[StorageService, Depends(get_storage)]
