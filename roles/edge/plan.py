"""Pure decisions of the edge role: what nginx is rendered with, from the host spec."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from appliance.security.settings import SecuritySettings
from roles.agent.settings import resolve_listen_address
from roles.settings import RoleSettingsError

if TYPE_CHECKING:
    from roles.spec import HostSpec

# The API answers JSON only: nothing may be loaded, framed, or submitted from its pages.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# /docs is Swagger UI (api/routes/docs.py): its bundle from jsdelivr and one inline script.
DOCS_CSP = (
    "default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; "
    "style-src https://cdn.jsdelivr.net; img-src data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
LOOPBACK = "127.0.0.1"
ANY = ("0.0.0.0", "::")  # noqa: S104 - compared with only
# Below the agent's (uvicorn's) 5 s idle timeout, so nginx never reuses a connection the
# agent is closing (which would be a 502).
UPSTREAM_IDLE_S = 4
# Under /var/lib/nginx, which the hardened unit may write; nginx makes the directory itself.
HEALTH_CACHE_DIR = "/var/lib/nginx/sovereign-health"
# /health answers from the agent's memory: one that takes longer is as good as down.
HEALTH_TIMEOUT_S = 5


def agent_body_limit(spec: HostSpec) -> int:
    """The agent's own request body limit (security.max_body_bytes), which the edge matches."""
    raw = spec.agent.config.get("security") or {}
    try:
        return SecuritySettings.model_validate(raw).max_body_bytes
    except ValueError as exc:
        raise RoleSettingsError(
            f"host {spec.name}: invalid `agent.config.security`: {exc}"
        ) from None


def upstream(spec: HostSpec) -> str:
    """host:port the edge proxies to: the agent's address (loopback when it listens on all)."""
    address = resolve_listen_address(spec.agent, spec.ssh_hostname)
    if address in ANY:
        address = LOOPBACK if address == "0.0.0.0" else "::1"  # noqa: S104
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{spec.agent.port}"


def listen(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def render_args(spec: HostSpec, cert: str, key: str) -> dict[str, Any]:
    cfg = spec.edge
    https_suffix = "" if cfg.port == 443 else f":{cfg.port}"
    return {
        "https_listen": [listen(a, cfg.port) for a in cfg.listen_addresses],
        "http_listen": (
            [listen(a, cfg.http_port) for a in cfg.listen_addresses]
            if cfg.http == "redirect" else []
        ),
        "https_suffix": https_suffix,
        "upstream": upstream(spec),
        "upstream_keepalive": cfg.upstream_keepalive,
        "upstream_idle_s": UPSTREAM_IDLE_S,
        "health_cache_s": cfg.health_cache_s,
        "health_timeout": HEALTH_TIMEOUT_S,
        "health_cache_dir": HEALTH_CACHE_DIR,
        "cert": cert,
        "key": key,
        "max_body": agent_body_limit(spec),
        "hsts": cfg.hsts_max_age_s,
        "api_csp": API_CSP,
        "docs_csp": DOCS_CSP,
        "connect_timeout": cfg.connect_timeout_s,
        "read_timeout": cfg.read_timeout_s,
        "client_timeout": cfg.client_timeout_s,
        "nextcloud": nextcloud_args(spec),
    }  # fmt: skip


def nextcloud_args(spec: HostSpec) -> dict[str, Any] | None:
    """Nextcloud behind the edge (roles/nextcloud): its names, its loopback vhost."""
    nc = spec.nextcloud
    if nc is None:
        return None
    return {"server_names": nc.server_names, "upstream": f"{LOOPBACK}:{nc.port}",
            "max_body_gb": nc.max_upload_gb}  # fmt: skip
