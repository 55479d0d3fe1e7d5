"""The host's logs, read from its journal (operator): GET /api/logs, /api/logs/search,
/api/logs/service/{service_name}, /api/logs/level/{log_level}. Newest first, a page at a
time, each request's reading bounded in time; messages scrubbed of secrets and personal data.

Operator, not viewer: the scrubber masks what it knows, and a log can hold what it does not.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from api.auth import require
from api.deps import SettingsDep
from api.errors import ApiError
from api.schemas.errors import AUTH_ERRORS
from api.schemas.logs import LogEntryOut, LogsOut
from appliance.logs.journal import (
    CURSOR_PATTERN,
    LEVELS,
    REQUEST_ID_PATTERN,
    TEXT_PATTERN,
    UNIT_PATTERN,
    BadQuery,
    LevelName,
    LogQuery,
    resolve_service,
)
from appliance.logs.reader import JournalReader, JournalUnavailable
from appliance.security.roles import Role

router = APIRouter(
    prefix="/api/logs",
    tags=["logs"],
    dependencies=[Depends(require(Role.OPERATOR))],
    responses=AUTH_ERRORS,
)

LEVEL_HELP = f"One of {', '.join(LEVELS)}; exactly that priority."
#: 2100-01-01: a bound journalctl can parse.
MAX_TIME = 4_102_444_800


async def log_query(
    service: Annotated[
        str | None,
        Query(
            pattern=UNIT_PATTERN,
            description="A service (agent, postgresql, vault, broker, zfs, edge, backups, …) "
            "or a unit name.",
        ),
    ] = None,
    level: Annotated[LevelName | None, Query(description=LEVEL_HELP)] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            pattern=TEXT_PATTERN,
            description="Text to find (words as written, any case).",
        ),
    ] = None,
    since: Annotated[
        float | None, Query(ge=0, le=MAX_TIME, description="Unix time, inclusive.")
    ] = None,
    until: Annotated[
        float | None, Query(ge=0, le=MAX_TIME, description="Unix time, exclusive.")
    ] = None,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
    request_id: Annotated[
        str | None,
        Query(pattern=REQUEST_ID_PATTERN, description="Only the agent's lines of this request."),
    ] = None,
) -> LogQuery:
    # Only the names are kept here; a service is resolved with the settings' aliases below.
    return LogQuery(
        units=(service,) if service else (), level=level, since=since, until=until, text=q,
        cursor=cursor, limit=limit, request_id=request_id,
    )  # fmt: skip


QueryDep = Annotated[LogQuery, Depends(log_query)]


def _answer(settings: SettingsDep, query: QueryDep) -> LogsOut:
    logs = settings.logs
    if not logs.enabled:
        raise ApiError(404, "the log endpoints are turned off ([logs] enabled = false)")
    try:
        units = tuple(u for name in query.units for u in resolve_service(name, logs.services))
        page = JournalReader(logs).read(replace(query, units=units))
    except BadQuery as exc:
        raise ApiError(422, str(exc)) from exc
    except JournalUnavailable as exc:
        raise ApiError(503, str(exc)) from exc
    return LogsOut(
        entries=[LogEntryOut.model_validate(asdict(e)) for e in page.entries],
        next_cursor=page.next_cursor,
        complete=page.complete,
        elapsed_ms=round(page.elapsed_ms, 1),
    )


@router.get("", response_model=LogsOut)
def logs(settings: SettingsDep, query: QueryDep) -> LogsOut:
    """The journal's entries, newest first, filtered by service, level, time and text."""
    return _answer(settings, query)


@router.get("/search", response_model=LogsOut)
def search(
    settings: SettingsDep,
    query: QueryDep,
    q: Annotated[
        str, Query(min_length=1, max_length=200, pattern=TEXT_PATTERN, description="Text to find.")
    ],
) -> LogsOut:
    """Entries whose message holds ``q`` (any case; masked parts do not match)."""
    return _answer(settings, replace(query, text=q))


@router.get("/service/{service_name}", response_model=LogsOut)
def by_service(
    settings: SettingsDep,
    query: QueryDep,
    service_name: Annotated[str, Path(pattern=UNIT_PATTERN)],
) -> LogsOut:
    """One service's entries (a name of ``[logs] services``, else a unit name)."""
    return _answer(settings, replace(query, units=(service_name,)))


@router.get("/level/{log_level}", response_model=LogsOut)
def by_level(
    settings: SettingsDep,
    query: QueryDep,
    log_level: Annotated[LevelName, Path(description=LEVEL_HELP)],
) -> LogsOut:
    """Entries of exactly one priority (``error``: errors only)."""
    return _answer(settings, replace(query, level=log_level))
