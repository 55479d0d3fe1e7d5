"""Notification templates: /api/notifications/templates (predefined ones read-only, custom
ones admin CRUD, each compiled and rendered in Jinja2's sandbox when saved)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Path, Request

from api.audit import audit_as
from api.auth import AdminDep, require
from api.errors import ApiError
from api.routes.notifications import service_of
from api.schemas.errors import AUTH_ERRORS, error_responses
from api.schemas.notifications import TemplateIn, TemplateOut, TemplatesOut
from appliance.notifications.templates import (
    Template,
    TemplateInvalid,
    TemplateNotFound,
    TemplateReadOnly,
)
from appliance.security.roles import Role

http = APIRouter(
    prefix="/api/notifications",
    tags=["notifications"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses=AUTH_ERRORS,
)


def template_out(t: Template) -> TemplateOut:
    return TemplateOut(**asdict(t))


@http.get("/templates", response_model=TemplatesOut)
def list_templates(request: Request) -> TemplatesOut:
    """Predefined and custom templates."""
    return TemplatesOut(templates=[template_out(t) for t in service_of(request).templates.all()])


def _save(request: Request, body: TemplateIn, principal: str, *, create: bool) -> TemplateOut:
    try:
        saved = service_of(request).templates.put(
            Template(**body.model_dump()), created_by=principal, create=create
        )
    except TemplateInvalid as exc:
        raise ApiError(422, f"template does not render: {exc}") from exc
    except TemplateReadOnly as exc:
        raise ApiError(409, str(exc)) from exc
    except TemplateNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    return template_out(saved)


@http.post(
    "/templates", response_model=TemplateOut, status_code=201, responses=error_responses(409)
)
def create_template(request: Request, body: TemplateIn, principal: AdminDep) -> TemplateOut:
    """Add a custom template (admin). It is compiled and rendered in the sandbox now: an
    error is a 422 here, never a failed delivery later."""
    audit_as(request, "notification.template.create", body.name)
    return _save(request, body, principal.name, create=True)


@http.put("/templates/{name}", response_model=TemplateOut, responses=error_responses(404, 409))
def replace_template(
    request: Request,
    body: TemplateIn,
    principal: AdminDep,
    name: str = Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$"),
) -> TemplateOut:
    """Replace a custom template (admin); the path names it (the body's name is ignored);
    predefined ones are read-only (409)."""
    audit_as(request, "notification.template.update", name)
    return _save(request, body.model_copy(update={"name": name}), principal.name, create=False)


@http.delete("/templates/{name}", status_code=204, responses=error_responses(404, 409))
def delete_template(
    request: Request, _: AdminDep, name: str = Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")
) -> None:
    """Remove a custom template (admin)."""
    audit_as(request, "notification.template.delete", name)
    try:
        service_of(request).templates.delete(name)
    except TemplateReadOnly as exc:
        raise ApiError(409, str(exc)) from exc
    except TemplateNotFound as exc:
        raise ApiError(404, str(exc)) from exc


router = http
