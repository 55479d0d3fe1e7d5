"""Settings of the agent role (host data key `agent`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from appliance.alerting.dispatch.settings import RoutingSettings
from appliance.notifications.settings import DeclaredChannel
from roles.settings import check_ip


class AgentNotifications(BaseModel):
    """`agent.notifications`: what the deploy tells the agent about notifications."""

    model_config = ConfigDict(extra="forbid")

    channels: list[DeclaredChannel] = Field(
        default_factory=list,
        description="Channels the agent creates or replaces at start (name, kind, non-secret "
        "options, the name of the secret holding the credentials: under `agent/` in Vault KV, "
        "put there with `sovereign vault put-secret`). Channels made through the API "
        "are left alone.",
    )


class AgentRoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen_address: str | None = Field(
        None,
        description="Address the API listens on: 127.0.0.1, behind the edge (nginx, HTTPS). "
        "Another address exposes the agent's plain HTTP (the firewall keeps its port closed "
        "unless `firewall.allow` opens it).",
    )
    port: int = Field(8013, ge=1024, le=65535)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="More agent settings (appliance/config.py), rendered into agent.toml.",
    )
    notifications: AgentNotifications = Field(default_factory=AgentNotifications)
    alerting: RoutingSettings | None = Field(
        default=None,
        description="Alert routing as code: the route tree (label matchers to channel names, "
        "kinds or `all`), inhibit rules, escalation policies and timers, rendered into "
        "agent.toml as [alerting.routing]; unset: the seed's severity routing.",
    )

    @field_validator("listen_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return check_ip(value)

    @field_validator("config")
    @classmethod
    def _no_overlap(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in ("host", "port", "config_file"):
            if key in value:
                raise ValueError(f"`{key}` is set by the role: use agent.listen_address/port")
        notifications = value.get("notifications")
        if isinstance(notifications, dict) and "channels" in notifications:
            raise ValueError("declare channels in agent.notifications.channels")
        if "sync" in value:
            raise ValueError("declare sync in the host's `sync` section")
        alerting = value.get("alerting")
        if isinstance(alerting, dict) and "routing" in alerting:
            raise ValueError("declare alert routing in agent.alerting")
        return value


def resolve_listen_address(cfg: AgentRoleSettings, ssh_hostname: str | None) -> str:
    del ssh_hostname  # the edge is the host's address; the agent stays on loopback
    return cfg.listen_address or "127.0.0.1"


def render_config(
    cfg: AgentRoleSettings, address: str, services: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The agent.toml content as a mapping (validated by the agent's own settings model).

    `services` are defaults derived from the other roles (what to health-check, where the
    broker is, whom to believe in X-Forwarded-For); the inventory's `agent.config` overrides
    them, table by table, except `security`, whose keys override one by one (so setting a
    rate limit keeps the edge trusted).
    """
    defaults = dict(services or {})
    config = {"host": address, "port": cfg.port, **defaults, **cfg.config}
    if isinstance(defaults.get("security"), dict) and isinstance(cfg.config.get("security"), dict):
        config["security"] = {**defaults["security"], **cfg.config["security"]}
    # The same for [alerting.dispatch]: an inventory's alerting table keeps the defaults' keys.
    wanted = defaults.get("alerting", {}).get("dispatch", {})
    if wanted and isinstance(cfg.config.get("alerting"), dict):
        alerting = dict(cfg.config["alerting"])
        dispatch = alerting.get("dispatch")
        alerting["dispatch"] = {**wanted, **(dispatch if isinstance(dispatch, dict) else {})}
        config["alerting"] = alerting
    if cfg.notifications.channels:
        table = config.get("notifications")
        config["notifications"] = {
            **(table if isinstance(table, dict) else {}),
            "channels": [c.model_dump(exclude_none=True) for c in cfg.notifications.channels],
        }
    if cfg.alerting is not None:
        table = config.get("alerting")
        config["alerting"] = {
            **(table if isinstance(table, dict) else {}),
            "routing": cfg.alerting.model_dump(mode="json", by_alias=True, exclude_none=True),
        }
    return config
