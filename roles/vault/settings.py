"""Settings of the Vault role (host data key `vault`).

One role for OpenBao (`bao`, from the artifact cache) and HashiCorp Vault (vendor apt repository
or a `vault` binary artifact). Both read the same HCL and speak the same API.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from roles.settings import absolute_path, check_ip, listen_address_or_host_ip

SAN_DNS_RE = re.compile(
    r"^(?=.{1,253}$)(\*\.)?[a-zA-Z0-9]([a-zA-Z0-9-]{0,62})(\.[a-zA-Z0-9-]{1,63})*$"
)
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - an operator may choose it; we only compare with it
MOUNT_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class TransitSeal(BaseModel):
    """Auto-unseal through another Vault's transit engine (the stronger auto-unseal: the key
    never sits on this host)."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(description="https://… of the Vault holding the transit key.")
    key_name: str = Field("sovereign-autounseal", description="Transit key used as the seal.")
    mount_path: str = Field("transit/", description="Mount of that transit engine.")
    token_env: str = Field(
        "SOVEREIGN_VAULT_TRANSIT_TOKEN",
        description="Environment variable on the controller holding the token for the seal; "
        "the role writes it to a root-only file on the host, never to the inventory.",
    )
    ca_cert: str | None = Field(
        None, description="Controller path of the CA certificate of that Vault (PEM)."
    )

    @field_validator("address")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError("must be an https:// URL (the seal token travels to it)")
        return value.rstrip("/")

    @field_validator("token_env")
    @classmethod
    def _env(cls, value: str) -> str:
        if not ENV_NAME_RE.match(value):
            raise ValueError("must be an environment variable name (A-Z, 0-9, _)")
        return value


class VaultBackupSettings(BaseModel):
    """Raft snapshots on a timer, and the seal key and controller material encrypted to the
    operator's age recipients, all on the tank/backups dataset (roles/vault/backup.py)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="Take raft snapshots and back up the keys.")
    dir: str = Field(default="/tank/backups/vault", description="Where the raft snapshots go.")
    keys_dir: str = Field(
        default="/tank/backups/keys",
        description="The seal key and the controller directory, age-encrypted to "
        "`operator_age_recipients` (skipped, with a warning, when there are none).",
    )
    schedule: str = Field(
        default="*-*-* *:05:00", description="systemd calendar: hourly by default."
    )
    keep: int = Field(default=48, ge=1, le=10000, description="Raft snapshots kept (the newest).")

    @field_validator("dir", "keys_dir")
    @classmethod
    def _abs(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("schedule")
    @classmethod
    def _calendar(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9*.,:/~ -]{1,80}$", value):
            raise ValueError(f"not a systemd calendar expression: {value!r}")
        return value


class VaultServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flavour: Literal["openbao", "hashicorp"] = Field(
        "openbao", description="openbao (`bao` artifact) or hashicorp (Vault)."
    )
    hashicorp_source: Literal["apt", "artifact"] = Field(
        "apt",
        description="hashicorp only: the vendor apt repository, or a `vault` binary artifact.",
    )
    listen_address: str | None = Field(
        None, description="IP of the API listener; default the host's ssh_hostname when an IP."
    )
    port: int = Field(8200, ge=1024, le=65535)
    cluster_port: int = Field(8201, ge=1024, le=65535)
    data_dir: str = Field("/tank/vault", description="Raft storage: the tank/vault dataset.")
    data_is_dataset: bool = Field(
        True, description="data_dir is a mounted dataset: the unit will not start without it."
    )
    audit_log: str = Field("/var/log/vault/audit.log", description="File audit device.")
    seal: Literal["static", "transit", "shamir"] = Field(
        "static",
        description="static: auto-unseal from a key file on the host (OpenBao only); transit: "
        "auto-unseal through another Vault; shamir: manual, `sovereign vault unseal`.",
    )
    transit: TransitSeal | None = None
    key_shares: int = Field(5, ge=1, le=10, description="Unseal (shamir) or recovery shares.")
    key_threshold: int = Field(3, ge=1, le=10)
    operator_age_recipients: list[str] = Field(
        default_factory=list,
        description="age public keys (age1…) the init keys are encrypted to on the controller.",
    )
    controller_dir: str | None = Field(
        None,
        description="Controller directory for this host's Vault PKI, init keys and deploy "
        "credentials; default ~/.local/state/sovereign/vault/HOST.",
    )
    mlock: bool = Field(
        False,
        description="hashicorp only: lock memory (gives the unit CAP_IPC_LOCK). Off by default: "
        "HashiCorp advise against mlock with raft storage; keep swap off or encrypted instead.",
    )
    extra_sans: list[str] = Field(
        default_factory=list, description="More DNS names / IPs for the server certificate."
    )
    kv_mount: str = Field("sovereign", description="KV v2 mount holding appliance secrets.")
    backup: VaultBackupSettings = Field(default_factory=VaultBackupSettings)
    transit_mount: str = Field("transit", description="Transit engine mount.")

    @field_validator("listen_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        return check_ip(value)

    @field_validator("data_dir", "audit_log")
    @classmethod
    def _abs(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("operator_age_recipients")
    @classmethod
    def _recipients(cls, value: list[str]) -> list[str]:
        import pyrage

        for i, recipient in enumerate(value):
            try:
                pyrage.x25519.Recipient.from_str(recipient)
            except Exception:
                raise ValueError(f"item {i}: not an age X25519 public key (age1…)") from None
        return value

    @field_validator("extra_sans")
    @classmethod
    def _sans(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_address(item)
            except ValueError:
                if not SAN_DNS_RE.match(item):
                    raise ValueError(f"{item!r} is neither an IP address nor a DNS name") from None
        return value

    @field_validator("kv_mount", "transit_mount")
    @classmethod
    def _mount(cls, value: str) -> str:
        if not MOUNT_RE.match(value):
            raise ValueError("must be a lower-case mount name (a-z, 0-9, _, -)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.key_threshold > self.key_shares:
            raise ValueError(
                f"key_threshold ({self.key_threshold}) exceeds key_shares ({self.key_shares})"
            )
        if self.port == self.cluster_port:
            raise ValueError("port and cluster_port must differ")
        if self.seal == "static" and self.flavour == "hashicorp":
            raise ValueError(
                "seal: 'static' is OpenBao's; HashiCorp Vault auto-unseals with 'transit' "
                "(or use 'shamir' and `sovereign vault unseal`)"
            )
        if self.seal == "transit" and self.transit is None:
            raise ValueError("seal 'transit' needs the `transit` settings (address, key_name…)")
        if self.mlock and self.flavour == "openbao":
            raise ValueError(
                "mlock: OpenBao has no mlock (it was removed upstream); keep swap off or "
                "encrypted instead"
            )
        return self

    @property
    def unseal_automatic(self) -> bool:
        return self.seal != "shamir"


def default_controller_dir(host_name: str) -> Path:
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "sovereign" / "vault" / host_name


def controller_dir(cfg: VaultServerSettings, host_name: str) -> Path:
    return (
        Path(cfg.controller_dir).expanduser()
        if cfg.controller_dir
        else (default_controller_dir(host_name))
    )


def resolve_listen_address(cfg: VaultServerSettings, ssh_hostname: str | None) -> str:
    return listen_address_or_host_ip("vault", cfg.listen_address, ssh_hostname)


def listeners(address: str) -> list[str]:
    """Addresses to listen on: the declared one and loopback (where the agent and the
    deploy's SSH tunnel connect), once each; 0.0.0.0 covers loopback itself."""
    if address in (ANY_ADDRESS, "127.0.0.1"):
        return [address]
    return [address, "127.0.0.1"]


def host_port(address: str, port: int) -> str:
    """address:port, with an IPv6 address in brackets (as Go's net package needs)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def certificate_names(
    cfg: VaultServerSettings, address: str, host_name: str, ssh_hostname: str | None
) -> tuple[list[str], list[str]]:
    """(DNS names, IPs) the server certificate must carry."""
    dns: list[str] = ["localhost"]
    ips: list[str] = ["127.0.0.1"]
    for item in [host_name, ssh_hostname or "", address, *cfg.extra_sans]:
        if not item or item == ANY_ADDRESS:
            continue
        try:
            ips.append(str(ipaddress.ip_address(item)))
        except ValueError:
            if SAN_DNS_RE.match(item):
                dns.append(item)
    by_family = sorted({ipaddress.ip_address(ip) for ip in ips}, key=lambda a: (a.version, a))
    return sorted(set(dns)), [str(a) for a in by_family]
