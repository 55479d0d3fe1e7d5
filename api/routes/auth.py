"""Tokens, TOTP step-up and enrolment: /api/auth."""

from __future__ import annotations

import time

from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool

from api.audit import audit_as
from api.auth import AdminDep, PrincipalDep, StepUpGateDep, ViewerDep, security_of
from api.errors import ApiError
from api.schemas.auth import (
    TOKEN_NAME,
    StepUpIn,
    StepUpOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    TokensOut,
    TotpEnrolIn,
    TotpEnrolOut,
    WhoAmI,
)
from api.schemas.errors import AUTH_ERRORS, error_responses
from appliance.security.roles import Role
from appliance.security.stepup import NOT_CONFIGURED, StepUpError
from appliance.security.tokens import TokenInfo
from appliance.totp import AlreadyEnrolled

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=AUTH_ERRORS)


def token_out(info: TokenInfo, now: float) -> TokenOut:
    return TokenOut(
        id=info.id,
        name=info.name,
        role=info.role,
        state=info.state(now),
        created_at=info.created_at,
        created_by=info.created_by,
        last_used_at=info.last_used_at,
        expires_at=info.expires_at,
        revoked_at=info.revoked_at,
    )


@router.get("/me", response_model=WhoAmI)
async def whoami(request: Request, principal: PrincipalDep) -> WhoAmI:
    """The calling token: name, role, expiry, and whether step-up is possible here."""
    return WhoAmI(
        name=principal.name,
        role=principal.role,
        token_id=principal.token_id,
        expires_at=principal.token.expires_at if principal.token else None,
        step_up_available=security_of(request).step_up.available,
    )


@router.get("/tokens", response_model=TokensOut)
def list_tokens(request: Request, _: AdminDep) -> TokensOut:
    """Active tokens (admin). Secrets are never shown again."""
    security = security_of(request)
    now = time.time()
    return TokensOut(tokens=[token_out(t, now) for t in security.tokens.list()])


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    responses=error_responses(409),
)
async def create_token(
    request: Request, body: TokenCreate, principal: AdminDep, step_up: StepUpGateDep
) -> TokenCreated:
    """Create a token (admin); an admin token also needs a TOTP step-up. The token is in this
    answer only."""
    audit_as(request, "token.create", body.name, role=body.role.value)
    if body.role is Role.ADMIN:
        await step_up.require()
    security = security_of(request)
    new = await run_in_threadpool(
        security.tokens.create,
        body.name,
        body.role,
        created_by=principal.name,
        expires_in_s=None if body.expires_in_days is None else body.expires_in_days * 86_400.0,
    )
    return TokenCreated(token=new.secret, info=token_out(new.info, new.info.created_at))


@router.delete("/tokens/{ref}", response_model=TokenOut, responses=error_responses(404))
def revoke_token(
    request: Request,
    _: AdminDep,
    ref: str = Path(pattern=TOKEN_NAME, description="The token's id or name."),
) -> TokenOut:
    """Revoke an active token (admin): it fails from the next request on, its grants too."""
    audit_as(request, "token.revoke", ref)
    security = security_of(request)
    revoked = security.tokens.revoke(ref)
    security.step_up.revoke_token(revoked.id)
    return token_out(revoked, revoked.revoked_at or 0.0)


@router.post("/step-up", response_model=StepUpOut)
async def step_up(
    request: Request, body: StepUpIn, principal: ViewerDep, step_up: StepUpGateDep
) -> StepUpOut:
    """Trade a TOTP code of the calling token's principal for a grant (header X-Step-Up)
    valid for step_up_ttl_s with this token only. The code is then used up."""
    audit_as(request, "auth.step_up", principal.name)
    await step_up.check_code(body.code)
    grant = security_of(request).step_up.issue(principal.token_id or "")
    return StepUpOut(grant=grant.grant, expires_at=grant.expires_at)


@router.post("/totp/enrol", response_model=TotpEnrolOut, responses=error_responses(409))
async def enrol(
    request: Request, body: TotpEnrolIn, _: AdminDep, step_up: StepUpGateDep
) -> TotpEnrolOut:
    """Enrol a principal (a token name) for TOTP (admin); the URI, with the seed, is in this
    answer only. Renewing an existing enrolment (replace) needs a step-up."""
    audit_as(request, "totp.enrol", body.principal, replace=body.replace)
    security = security_of(request)
    totp = security.step_up.totp
    if totp is None:
        raise StepUpError("step_up_unavailable", NOT_CONFIGURED)
    if body.replace:
        await step_up.require()
    try:
        enrolment = await run_in_threadpool(totp.enrol, body.principal, replace=body.replace)
    except AlreadyEnrolled as exc:
        raise ApiError(409, str(exc)) from None
    return TotpEnrolOut(
        principal=enrolment.principal,
        provisioning_uri=enrolment.provisioning_uri.get_secret_value(),
    )
