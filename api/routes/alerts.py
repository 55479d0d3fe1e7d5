"""Alert rules and their history: /api/alerts. Viewers read, operators create and change,
admins delete (a privileged operation: TOTP step-up). Every change is audited."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from api.audit import audit_as
from api.auth import AdminDep, OperatorDep, StepUpDep, require
from api.deps import database_backed
from api.errors import ApiError
from api.schemas.alerts import (
    RULE_ID,
    AlertOut,
    HistoryOut,
    RuleChange,
    RuleIn,
    RuleOut,
    RulesOut,
)
from api.schemas.errors import AUTH_ERRORS, error_responses
from appliance.alerting.history import HistoryQuery
from appliance.alerting.models import AlertLevel, AlertStatus
from appliance.alerting.service import AlertingService, BuiltinRule, RuleView
from appliance.alerting.store import RuleNotFound
from appliance.security.roles import Role

router = APIRouter(
    prefix="/api/alerts",
    tags=["alerts"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)


class RuleIdConvertor(Convertor[str]):
    """A rule id in a path, never ``history``: /api/alerts/history is only the history, so
    PUT or DELETE there is a 405 naming GET, not an attempt on a rule called "history"."""

    regex = r"(?!history$)[A-Za-z0-9][A-Za-z0-9_-]{0,99}"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("alert_rule_id", RuleIdConvertor())

RuleId = Annotated[str, Path(pattern=RULE_ID, description="A rule's id.")]


def service_of(request: Request) -> AlertingService:
    return database_backed(request, "alerting needs", lambda runtime: runtime.alerting)


def rule_out(view: RuleView) -> RuleOut:
    alerts = []
    for a in view.alerts:
        fields = asdict(a)
        fields["value"] = fields.pop("last_value")
        del fields["rule_id"]
        alerts.append(AlertOut(**fields))
    return RuleOut(**view.rule.model_dump(), state=view.state, alerts=alerts)


@router.get("", response_model=RulesOut)
def list_rules(request: Request) -> RulesOut:
    """Every rule, built-in ones included, each with its alerts' current state."""
    return RulesOut(rules=[rule_out(v) for v in service_of(request).rules()])


@router.post("", response_model=RuleOut, status_code=201)
def create_rule(request: Request, body: RuleIn, principal: OperatorDep) -> RuleOut:
    """Add a rule (operator). It is evaluated from the next round on."""
    audit_as(request, "alert.rule.create", body.name, metric=body.metric)
    view = service_of(request).create(body, principal.name)
    audit_as(request, "alert.rule.create", view.rule.id, name=body.name, metric=body.metric)
    return rule_out(view)


@router.get("/history", response_model=HistoryOut, response_class=Response)
async def history(
    request: Request,
    rule: Annotated[str | None, Query(pattern=RULE_ID, description="A rule's id.")] = None,
    fingerprint: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None,
    status: Annotated[AlertStatus | None, Query()] = None,
    severity: Annotated[AlertLevel | None, Query()] = None,
    since: Annotated[float | None, Query(ge=0, description="Unix time, inclusive.")] = None,
    until: Annotated[float | None, Query(ge=0, description="Unix time, exclusive.")] = None,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="next_cursor of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Every transition (inactive, pending, firing, resolved, nodata), newest first."""
    q = HistoryQuery(rule, fingerprint, status, severity, since, until, cursor, limit)
    # Written from the database's rows as HistoryOut (tests check it against the schema).
    body = await run_in_threadpool(service_of(request).history_json, q)
    return Response(body, media_type="application/json")


@router.get("/{alert_id:alert_rule_id}", response_model=RuleOut, responses=error_responses(404))
def get_rule(request: Request, alert_id: RuleId) -> RuleOut:
    try:
        return rule_out(service_of(request).rule(alert_id))
    except RuleNotFound as exc:
        raise ApiError(404, str(exc)) from exc


@router.put("/{alert_id:alert_rule_id}", response_model=RuleOut, responses=error_responses(404))
def update_rule(request: Request, body: RuleChange, alert_id: RuleId, _: OperatorDep) -> RuleOut:
    """Change the fields given (operator); built-in rules too (threshold, enabled…). Alerts
    of the rule as it was resolve when it is disabled or what identifies them changes."""
    audit_as(request, "alert.rule.update", alert_id, fields=sorted(body.model_fields_set))
    try:
        return rule_out(service_of(request).update(alert_id, body))
    except RuleNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except ValidationError as exc:
        # The merged rule is checked whole: name the body's field, as FastAPI would.
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from exc


@router.delete(
    "/{alert_id:alert_rule_id}", response_model=RuleOut, responses=error_responses(404, 409)
)
def delete_rule(request: Request, alert_id: RuleId, _: AdminDep, __: StepUpDep) -> RuleOut:
    """Delete a rule (admin, TOTP step-up); its firing alerts resolve. Built-in rules are
    disabled instead (409)."""
    audit_as(request, "alert.rule.delete", alert_id)
    try:
        rule = service_of(request).delete(alert_id)
    except RuleNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except BuiltinRule as exc:
        raise ApiError(409, str(exc)) from exc
    return rule_out(RuleView(rule, AlertStatus.INACTIVE, []))
