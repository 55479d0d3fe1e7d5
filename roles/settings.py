"""Reading a role's settings from host data into a validated pydantic model."""

from __future__ import annotations

import ipaddress
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class RoleSettingsError(ValueError):
    """Host data for a role does not validate; the message names host, key and field."""


def format_validation_error(prefix: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]))
        lines.append(f"  {loc}: {err['msg']}")
    return "\n".join(lines)


def parse_settings(model: type[M], key: str, raw: Any, host_name: str) -> M:
    """Validate `raw` (host data under `key`) as `model`, or raise one error naming each field."""
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        raise RoleSettingsError(
            f"host {host_name}: invalid `{key}` settings:\n{format_validation_error(key, exc)}"
        ) from None


def absolute_path(value: str) -> str:
    """Field validator body for a path on the host: absolute, no `..`, no trailing slash."""
    if not value.startswith("/") or ".." in value.split("/"):
        raise ValueError("must be an absolute path")
    return value.rstrip("/")


def host_ip(ssh_hostname: str | None) -> str | None:
    """The host's IP when the inventory reaches it by address (the default listen address of
    the services), else None."""
    try:
        return str(ipaddress.ip_address(ssh_hostname or ""))
    except ValueError:
        return None


def check_ip(value: str | None) -> str | None:
    """Field validator body for an optional IP address."""
    if value is not None:
        ipaddress.ip_address(value)
    return value


def listen_address_or_host_ip(key: str, declared: str | None, ssh_hostname: str | None) -> str:
    """A service's declared listen address, else the host's IP; raises naming `key`."""
    address = declared or host_ip(ssh_hostname)
    if address is None:
        raise ValueError(
            f"{key}.listen_address: required when the host's ssh_hostname is not an IP address"
        )
    return address
