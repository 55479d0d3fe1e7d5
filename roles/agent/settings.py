"""Settings of the agent role (host data key `agent`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from roles.settings import check_ip, host_ip


class AgentRoleSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    listen_address: str | None = Field(
        None,
        description="Address the API listens on: the host's ssh_hostname when that is an IP, "
        "else 127.0.0.1 (put a reverse proxy in front).",
    )
    port: int = Field(8013, ge=1024, le=65535)
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="More agent settings (appliance/config.py), rendered into agent.toml.",
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
        return value


def resolve_listen_address(cfg: AgentRoleSettings, ssh_hostname: str | None) -> str:
    return cfg.listen_address or host_ip(ssh_hostname) or "127.0.0.1"


def render_config(
    cfg: AgentRoleSettings, address: str, services: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The agent.toml content as a mapping (validated by the agent's own settings model).

    `services` are defaults derived from the other roles (what to health-check, where the
    broker is); the inventory's `agent.config` overrides them.
    """
    return {"host": address, "port": cfg.port, **(services or {}), **cfg.config}
