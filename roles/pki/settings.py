"""Settings of the appliance CA (host data key `pki`): one CA per host, kept on the controller,
issuing the server certificates of Vault, the edge and PostgreSQL (and later Nextcloud)."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from roles.spec import HostSpec

SAN_DNS_RE = re.compile(
    r"^(?=.{1,253}$)(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9-]{1,63})*$"
)
ANY_ADDRESSES = ("0.0.0.0", "::")  # noqa: S104 - compared with, never bound to here


def check_sans(value: list[str]) -> list[str]:
    """Field validator body: each item an IP address or a DNS name (a certificate's names)."""
    for item in value:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            if not SAN_DNS_RE.match(item):
                raise ValueError(f"{item!r} is neither an IP address nor a DNS name") from None
    return value


class PkiSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    controller_dir: str | None = Field(
        None,
        description="Controller directory of this host's appliance CA (tls/ca.crt, tls/ca.key), "
        "the certificates it issued and the agent's first admin token. Default: "
        "vault.controller_dir on hosts with Vault (where the CA has always been), else "
        "~/.local/state/sovereign/appliance/HOST. Back it up.",
    )
    extra_sans: list[str] = Field(
        default_factory=list,
        description="More DNS names / IPs for the edge's and PostgreSQL's certificates (the "
        "host's name, ssh_hostname, 127.0.0.1 and localhost are always in them).",
    )

    @field_validator("extra_sans")
    @classmethod
    def _sans(cls, value: list[str]) -> list[str]:
        return check_sans(value)


def default_controller_dir(host_name: str) -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "sovereign" / "appliance" / host_name


def controller_dir(spec: HostSpec) -> Path:
    """Where this host's CA lives on the controller (pure: no directory is made)."""
    from roles.vault.settings import controller_dir as vault_dir

    if spec.pki.controller_dir:
        return Path(spec.pki.controller_dir).expanduser()
    if spec.vault is not None:
        return vault_dir(spec.vault, spec.name)
    return default_controller_dir(spec.name)


def check_one_ca(spec: HostSpec) -> None:
    """On a host with Vault the CA is the one in vault's controller directory (Vault's own
    listener and `sovereign vault` use it): a second directory would make a second CA."""
    from roles.vault.settings import controller_dir as vault_dir

    if spec.vault is None or not spec.pki.controller_dir:
        return
    if Path(spec.pki.controller_dir).expanduser() != vault_dir(spec.vault, spec.name):
        raise ValueError(
            "pki.controller_dir: on a host with Vault the appliance CA lives in "
            "vault.controller_dir; leave pki.controller_dir unset or set both to the same path"
        )


def service_names(spec: HostSpec, extra: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(DNS names, IPs) of a service certificate on this host: localhost and 127.0.0.1, the
    inventory name, base.hostname, ssh_hostname, pki.extra_sans and `extra` (pure)."""
    dns: set[str] = {"localhost"}
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = {ipaddress.ip_address("127.0.0.1")}
    for item in [spec.name, spec.base.hostname or "", spec.ssh_hostname or "",
                 *spec.pki.extra_sans, *(extra or [])]:  # fmt: skip
        if not item or item in ANY_ADDRESSES:
            continue
        try:
            ips.add(ipaddress.ip_address(item))
        except ValueError:
            if SAN_DNS_RE.match(item):
                dns.add(item)
    return sorted(dns), [str(a) for a in sorted(ips, key=lambda a: (a.version, a))]
