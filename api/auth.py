"""Authentication, roles and TOTP step-up as FastAPI dependencies.

::

    router = APIRouter(dependencies=[Depends(require(Role.VIEWER))], responses=AUTH_ERRORS)

    @router.post("/things")
    async def create(principal: AdminDep, _: StepUpDep) -> …   # admin, and a TOTP step-up

``authenticate`` reads ``Authorization: Bearer <token>``: no header is 401; a presented token
that is not an active one is 401, counted against the client's address (the stricter limit,
then the lock-out: appliance/security/ratelimit.py) and audited; an address locked out or
over its failure budget gets 429 without its token being looked at. A valid token then takes
one from its own bucket (429 when empty). On a cache hit the whole check is a SHA-256 and two
dict lookups; on a miss the database is read in a worker thread.

``require(role)`` adds the role check (403). ``require_step_up`` (and ``StepUpGate`` for a
route that needs it only sometimes) asks for a TOTP code (``X-TOTP-Code``) or a step-up grant
(``X-Step-Up``) of the token's principal; without [totp] it refuses with that reason.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.audit import add_event
from api.errors import ApiError
from api.prometheus import RequestMetrics
from appliance.logs import context as log_context
from appliance.security.audit import AuditEvent
from appliance.security.network import within
from appliance.security.ratelimit import retry_after
from appliance.security.roles import Role
from appliance.security.service import Security
from appliance.security.stepup import NOT_CONFIGURED, StepUpError
from appliance.security.tokens import InvalidToken, TokenInfo

#: Declares the scheme in OpenAPI (the Authorize button); the header is parsed below.
bearer = HTTPBearer(auto_error=False, description="An API token: `Bearer sva_…`.")
TOTP_HEADER = "x-totp-code"
GRANT_HEADER = "x-step-up"
SCRAPE_NETWORK = "scrape-network"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token, or (``token`` None) a declared scrape network."""

    name: str
    role: Role
    address: str
    token: TokenInfo | None = None

    @property
    def token_id(self) -> str | None:
        return None if self.token is None else self.token.id


def security_of(request: Request) -> Security:
    runtime = getattr(request.app.state, "runtime", None)
    security: Security | None = getattr(runtime, "security", None)
    if security is None:
        raise ApiError(503, "authentication needs the agent's database, which is not open")
    return security


def client_of(request: Request) -> str:
    state = request.scope.get("state", {})
    address = state.get("client")
    if address:
        return str(address)
    return request.client.host if request.client else "unknown"


def _metrics(request: Request) -> RequestMetrics:
    metrics: RequestMetrics = request.app.state.request_metrics
    return metrics


def _refuse_if_guarded(request: Request, security: Security, address: str) -> None:
    """429 while the address is locked out, or over its budget of failures (token or TOTP)."""
    refusal = security.failures.refusal(address) or security.totp_failures.refusal(address)
    if refusal is not None:
        _metrics(request).rate_limited.labels(refusal.code).inc()
        raise ApiError(
            429,
            refusal.reason,
            refusal.code,
            {"Retry-After": str(retry_after(refusal.wait_s))},
        )


def _failure(
    request: Request,
    security: Security,
    address: str,
    action: str,
    reason: str,
    actor: str = "anonymous",
    totp: bool = False,
) -> None:
    """Count a failed authentication and leave its audit record (and a lock-out's)."""
    _metrics(request).auth_failures.inc()
    locked = (security.totp_failures if totp else security.failures).failed(address)
    state = request.scope.get("state", {})
    target = f"{request.method[:16]} {request.url.path[:200]}"
    request_id = str(state.get("request_id", ""))
    add_event(
        request,
        AuditEvent(actor, action, target, address, "denied", None, request_id, {"reason": reason}),
    )
    if locked:
        settings = security.settings
        detail = {
            "failures_in_a_row": settings.auth_failures_lockout,
            "lockout_s": settings.lockout_s,
        }
        add_event(
            request,
            AuditEvent(actor, "auth.lockout", target, address, "denied", None, request_id, detail),
        )


def _unauthenticated(reason: str) -> ApiError:
    return ApiError(401, reason, headers={"WWW-Authenticate": "Bearer"})


async def authenticate(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    security = security_of(request)
    address = client_of(request)
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthenticated("this route needs a token: Authorization: Bearer <token>")
    _refuse_if_guarded(request, security, address)
    scheme, _, credential = header.partition(" ")
    tokens = security.tokens
    try:
        if scheme.lower() != "bearer" or not credential.strip():
            raise InvalidToken("Authorization is not 'Bearer <token>'")
        credential = credential.strip()
        hit = tokens.cached(credential)
        if hit is None:
            info = await run_in_threadpool(tokens.verify, credential)
        else:
            info, due = hit
            if due:
                await run_in_threadpool(tokens.touch, info.id)
    except InvalidToken as exc:
        _failure(request, security, address, "auth.failure", exc.reason)
        raise _unauthenticated(f"not a valid token: {exc.reason}") from None
    security.failures.succeeded(address)
    principal = Principal(info.name, info.role, address, info)
    request.state.principal = principal
    log_context.user.set(info.name)
    wait = security.per_token.take(info.id)
    if wait > 0:
        _metrics(request).rate_limited.labels("token").inc()
        raise ApiError(
            429,
            f"too many requests with token {info.name!r} "
            f"(over {security.settings.rate_per_token:g}/s)",
            headers={"Retry-After": str(retry_after(wait))},
        )
    return principal


def _role_check(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.role.allows(role):
            raise ApiError(
                403,
                f"this route needs role {role.value} or above; token {principal.name!r} is "
                f"{principal.role.value}",
            )
        return principal

    check.__name__ = f"require_{role.value}"
    return check


#: One dependency per role, made once so FastAPI resolves each once per request.
_REQUIRE = {role: _role_check(role) for role in Role}


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    return _REQUIRE[role]


async def scrape_access(
    request: Request,
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """/metrics: a token of any role, or no token from a declared scrape network."""
    security = security_of(request)
    address = client_of(request)
    if "authorization" not in request.headers and within(address, security.scrape_networks):
        principal = Principal(SCRAPE_NETWORK, Role.SCRAPE, address)
        request.state.principal = principal
        return principal
    return await authenticate(request, _scheme)


class StepUpGate:
    """A route's handle on the TOTP step-up, for routes that need it only sometimes."""

    def __init__(self, request: Request, principal: Principal) -> None:
        self._request = request
        self._principal = principal

    async def require(self) -> None:
        """The request's X-TOTP-Code or X-Step-Up must be good, or StepUpError (403)."""
        headers = self._request.headers
        code, grant = headers.get(TOTP_HEADER), headers.get(GRANT_HEADER)
        if code is None and grant is None:
            self._available()
            raise StepUpError(
                "step_up_required",
                "this operation is privileged: send a TOTP code in X-TOTP-Code, or a step-up "
                "grant in X-Step-Up (POST /api/auth/step-up)",
            )
        await self._check(code, grant)

    async def check_code(self, code: str) -> None:
        """Accept this TOTP code (single use) of the caller's principal, or StepUpError."""
        await self._check(code, None)

    def _available(self) -> Security:
        security = security_of(self._request)
        if not security.step_up.available:
            raise StepUpError("step_up_unavailable", NOT_CONFIGURED)
        if self._principal.token is None:
            raise StepUpError("step_up_required", "privileged operations need a token")
        return security

    async def _check(self, code: str | None, grant: str | None) -> None:
        request, principal = self._request, self._principal
        security = self._available()
        token_id = principal.token_id or ""
        _refuse_if_guarded(request, security, principal.address)
        step_up = security.step_up
        try:
            if grant is not None:
                step_up.check_grant(grant.strip(), token_id)
                how = "grant"
            else:
                await run_in_threadpool(step_up.check_code, principal.name, str(code))
                how = "code"
        except StepUpError as exc:
            _failure(
                request,
                security,
                principal.address,
                "auth.step_up_failure",
                f"{exc.code}: {exc}",
                actor=principal.name,
                totp=True,
            )
            raise
        security.totp_failures.succeeded(principal.address)
        request.state.privileged = how


async def step_up_gate(
    request: Request, principal: Annotated[Principal, Depends(authenticate)]
) -> StepUpGate:
    return StepUpGate(request, principal)


async def require_step_up(gate: Annotated[StepUpGate, Depends(step_up_gate)]) -> None:
    """For privileged routes: a valid TOTP code or step-up grant of the caller, or 403."""
    await gate.require()


PrincipalDep = Annotated[Principal, Depends(authenticate)]
ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
OperatorDep = Annotated[Principal, Depends(require(Role.OPERATOR))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
StepUpGateDep = Annotated[StepUpGate, Depends(step_up_gate)]
StepUpDep = Annotated[None, Depends(require_step_up)]
