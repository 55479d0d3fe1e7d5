"""Settings of the PostgreSQL role (host data key `postgres`)."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from roles.settings import absolute_path, host_ip

if TYPE_CHECKING:
    from roles.spec import HostSpec

IDENT_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_ROLES = {"postgres", "public"}
MONITOR_ROLE = "sovereign"  # the agent's OS user; peer auth over the local socket, no password
# The agent keeps its history and state in its own database on appliances with Vault (the
# password lives there); without Vault it keeps them in embedded SQLite.
AGENT_DB_ROLE = "sovereign_agent"
AGENT_DATABASE = "sovereign_agent"


def _ident(value: str) -> str:
    if not IDENT_RE.match(value):
        raise ValueError(
            "must be 1-63 of lower-case letters, digits and _, not starting with a digit"
        )
    return value


class Role(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Role name; its password is generated on the host.")
    login: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value in RESERVED_ROLES | {MONITOR_ROLE, AGENT_DB_ROLE}:
            raise ValueError(f"{value!r} is managed by the role itself")
        return _ident(value)


class Database(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    owner: str

    @field_validator("name")
    @classmethod
    def _not_the_agents(cls, value: str) -> str:
        if value == AGENT_DATABASE:
            raise ValueError(f"{value!r} is managed by the role itself")
        return value

    _name = field_validator("name")(classmethod(lambda cls, v: _ident(v)))


class PostgresSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(15, description="Debian's packaged major version (bookworm: 15).")
    cluster: str = Field("main", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    data_dir: str = Field("/tank/postgres", description="Mountpoint of the tank/postgres dataset.")
    port: int = Field(5432, ge=1024, le=65535)
    listen_addresses: list[str] | None = Field(
        None, description="Addresses to listen on; default localhost and the host's IP."
    )
    allowed_networks: list[str] | None = Field(
        None, description="CIDRs allowed to connect (scram-sha-256); default the appliance subnet."
    )
    roles: list[Role] = Field(default_factory=list)
    databases: list[Database] = Field(default_factory=list)
    max_connections: int = Field(100, ge=10, le=5000)

    @field_validator("data_dir")
    @classmethod
    def _abs(cls, value: str) -> str:
        return absolute_path(value)

    @field_validator("listen_addresses")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        for item in value or []:
            if item != "localhost":
                ipaddress.ip_address(item)
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: list[str] | None) -> list[str] | None:
        return [str(ipaddress.ip_network(v, strict=False)) for v in value] if value else value

    @model_validator(mode="after")
    def _consistent(self) -> PostgresSettings:
        names = [r.name for r in self.roles]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"roles: declared twice: {dupes}")
        dbs = [d.name for d in self.databases]
        if dupes := sorted({n for n in dbs if dbs.count(n) > 1}):
            raise ValueError(f"databases: declared twice: {dupes}")
        for i, db in enumerate(self.databases):
            if db.owner not in names and db.owner != "postgres":
                raise ValueError(f"databases.{i}.owner: {db.owner!r} is not a declared role")
        return self

    @property
    def cluster_dir(self) -> str:
        return f"{self.data_dir}/{self.version}/{self.cluster}"


def resolve_listen(cfg: PostgresSettings, ssh_hostname: str | None) -> list[str]:
    if cfg.listen_addresses is not None:
        return cfg.listen_addresses
    ip = host_ip(ssh_hostname)
    return ["localhost", ip] if ip else ["localhost"]


def resolve_networks(cfg: PostgresSettings, appliance_subnet: str | None) -> list[str]:
    if cfg.allowed_networks is not None:
        return cfg.allowed_networks
    return [str(ipaddress.ip_network(appliance_subnet, strict=False))] if appliance_subnet else []


def declared_roles(spec: HostSpec) -> list[Role]:
    """The inventory's roles, and the agent's own where it keeps its data in PostgreSQL."""
    roles = list(spec.postgres.roles)
    if spec.vault is not None:  # its password can live in Vault
        roles.append(Role.model_construct(name=AGENT_DB_ROLE, login=True))
    return roles


def declared_databases(spec: HostSpec) -> list[Database]:
    databases = list(spec.postgres.databases)
    if spec.vault is not None:
        databases.append(Database.model_construct(name=AGENT_DATABASE, owner=AGENT_DB_ROLE))
    return databases


def memory_settings(total_mb: int, max_connections: int) -> dict[str, str]:
    """Settings sized from the host's memory (the usual quarter / three-quarter rules)."""
    shared = min(max(total_mb // 4, 128), 8192)
    cache = max(total_mb * 3 // 4, 256)
    maintenance = min(max(total_mb // 20, 64), 2048)
    work = max((total_mb - shared) // (max_connections * 3), 4)
    return {
        "shared_buffers": f"{shared}MB",
        "effective_cache_size": f"{cache}MB",
        "maintenance_work_mem": f"{maintenance}MB",
        "work_mem": f"{min(work, 256)}MB",
    }
