"""`sovereign vault status|unseal|put-secret INVENTORY`: the operator's hands on each host's
Vault.

All go over the host's SSH connection to Vault's loopback listener (as the deploy does) and
verify TLS with the CA the deploy keeps on the controller. Key shares are read without echo
(or from the age-encrypted init file with the operator's identity) and never printed; a
secret's values are read from a file or stdin (never argv) and never printed either.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.errors import SovereignError
from controller.tunnel import forward, ssh_transport
from roles.settings import RoleSettingsError
from roles.spec import parse_host_spec
from roles.vault.settings import controller_dir
from sovereign.inventory import InventoryHost, load_inventory


@dataclass(frozen=True)
class VaultHost:
    host: InventoryHost
    port: int
    controller_dir: Path
    automatic_unseal: bool
    kv_mount: str = "sovereign"
    #: The notification channels the inventory declares for the host (kind, secret name).
    channels: tuple[tuple[str, str, str | None], ...] = ()

    @property
    def ca_cert(self) -> Path:
        return self.controller_dir / "tls" / "ca.crt"


def vault_hosts(inventory: str, limit: str | None = None) -> list[VaultHost]:
    found = []
    for host in load_inventory(inventory):
        if limit and host.name not in limit.split(","):
            continue
        try:
            spec = parse_host_spec(host.name, host.data)
        except RoleSettingsError as exc:
            raise SovereignError(str(exc)) from None
        if spec.vault is None:
            continue
        cfg = spec.vault
        found.append(
            VaultHost(
                host,
                cfg.port,
                controller_dir(cfg, host.name),
                cfg.unseal_automatic,
                cfg.kv_mount,
                tuple((c.name, c.kind, c.secret) for c in spec.agent.notifications.channels),
            )
        )
    if not found:
        raise SovereignError(f"no host of {inventory} has Vault (`vault` settings)")
    return found


@contextmanager
def session(target: VaultHost) -> Iterator[Any]:
    """An hvac client for the host's Vault, through SSH."""
    from roles.vault.client import hvac_client

    if not target.ca_cert.exists():
        raise SovereignError(
            f"{target.ca_cert} is missing: this controller has not deployed Vault to "
            f"{target.host.name} (or its state directory moved)"
        )
    try:
        with (
            ssh_transport(target.host.data, target.host.name) as transport,
            forward(transport, target.port) as port,
        ):
            vault = hvac_client(f"https://127.0.0.1:{port}", target.ca_cert)
            try:
                yield vault
            finally:
                vault.adapter.close()  # else the tunnel waits out its poll for the open socket
    except OSError as exc:
        raise SovereignError(f"{target.host.name}: cannot reach it over SSH: {exc}") from None


def describe(status: dict[str, Any]) -> str:
    """One line for the operator (pure)."""
    if not status.get("initialized"):
        return "not initialised (the next deploy initialises it)"
    if status.get("sealed"):
        return (
            f"SEALED ({status.get('type')} seal), unseal progress "
            f"{status.get('progress', 0)}/{status.get('t', '?')}"
        )
    return f"unsealed ({status.get('type')} seal), version {status.get('version')}"


def status(inventory: str, limit: str | None, say: Callable[[str], None]) -> bool:
    """Print each host's seal state; True when every Vault is unsealed."""
    from roles.vault.client import seal_status

    all_unsealed = True
    for target in vault_hosts(inventory, limit):
        with session(target) as vault:
            state = seal_status(vault, wait_s=5)
        say(f"{target.host.name}: {describe(state)}")
        all_unsealed = all_unsealed and bool(state.get("initialized")) and not state["sealed"]
    return all_unsealed


def unseal(
    inventory: str,
    limit: str | None,
    identity: Path | None,
    say: Callable[[str], None],
    ask: Callable[[str], str] = getpass.getpass,
) -> None:
    """Unseal every sealed Vault of the inventory with key shares: from the init file opened
    with the operator's age identity, or typed in (not echoed)."""
    from roles.vault.client import seal_status
    from roles.vault.keys import keys_path, load_init_keys

    for target in vault_hosts(inventory, limit):
        with session(target) as vault:
            state = seal_status(vault, wait_s=5)
            if not state.get("initialized") or not state.get("sealed"):
                say(f"{target.host.name}: {describe(state)}; nothing to do")
                continue
            if target.automatic_unseal:
                say(
                    f"{target.host.name}: sealed although its seal is automatic: the seal "
                    "cannot reach its key (static key file, transit Vault). Its recovery keys "
                    "cannot unseal it; fix the seal, then restart vault.service"
                )
                continue
            shares: list[str] = []
            if identity is not None:
                path = keys_path(target.controller_dir)
                if path is None:
                    raise SovereignError(f"no init keys file in {target.controller_dir}")
                try:
                    shares = list(load_init_keys(path, identity)["keys_b64"])
                except (ValueError, OSError) as exc:
                    raise SovereignError(f"{path}: {exc}") from None
            _submit(vault, target.host.name, shares, say, ask)


def _submit(
    vault: Any,
    name: str,
    shares: list[str],
    say: Callable[[str], None],
    ask: Callable[[str], str],
) -> None:
    from hvac.exceptions import InvalidRequest

    from roles.vault.client import wait_unsealed

    supplied = iter(shares)
    while True:
        share = next(supplied, None) or ask(f"{name}: unseal key share (hidden): ").strip()
        if not share:
            raise SovereignError(f"{name}: no key share given; Vault stays sealed")
        try:
            result = vault.sys.submit_unseal_key(key=share)
        except InvalidRequest as exc:
            # Vault's message says what is wrong with the share (never echoes it).
            say(f"{name}: share refused: {exc}")
            continue
        if not result.get("sealed"):
            wait_unsealed(vault, 30)
            say(f"{name}: unsealed")
            return
        say(f"{name}: share accepted, {result.get('progress')}/{result.get('t')}")


#: What the agent may read in Vault KV (its policy: roles/vault/desired.py).
AGENT_PREFIX = "agent/"


def parse_fields(text: str) -> dict[str, str]:
    """A secret's fields from a JSON object of strings (pure; errors never echo values)."""
    import json

    from appliance.secrets.names import SECRET_FIELD

    try:
        document = json.loads(text)
    except ValueError:
        raise SovereignError("the secret must be a JSON object of strings") from None
    if not isinstance(document, dict) or not document:
        raise SovereignError("the secret must be a non-empty JSON object of strings")
    for field, value in document.items():
        if not SECRET_FIELD.fullmatch(field):
            raise SovereignError(f"invalid field name {field[:40]!r}")
        if not isinstance(value, str) or not value:
            raise SovereignError(f"field {field}: must be a non-empty string")
    return dict(document)


def check_agent_secret_name(name: str) -> str:
    from appliance.secrets.names import check_secret_name

    try:
        check_secret_name(name)
    except ValueError as exc:
        raise SovereignError(str(exc)) from None
    if not name.startswith(AGENT_PREFIX) or name == AGENT_PREFIX:
        raise SovereignError(
            f"{name!r}: the agent reads only secrets under {AGENT_PREFIX} (e.g. agent/notify/pager)"
        )
    return name


def check_channel_fields(
    channels: tuple[tuple[str, str, str | None], ...], name: str, fields: dict[str, str]
) -> None:
    """Refuse a secret that a declared channel naming it could not use (pure): a required
    field missing, or a field its kind does not read (a typo would otherwise go unnoticed
    until the first delivery fails)."""
    from appliance.notifications.channels import CREDENTIALS, SECRET_FIELDS

    for channel, kind, secret in channels:
        if secret != name:
            continue
        missing = [f for f in CREDENTIALS[kind] if f not in fields]
        unknown = sorted(set(fields) - set(SECRET_FIELDS[kind]))
        problems = []
        if missing:
            problems.append(f"missing field(s) {', '.join(missing)}")
        if unknown:
            problems.append(f"field(s) {', '.join(unknown)} not used by {kind}")
        if problems:
            raise SovereignError(f"channel {channel} ({kind}) reads {name}: {'; '.join(problems)}")


def write_secret(vault: Any, kv_mount: str, name: str, fields: dict[str, str]) -> int:
    """Write one KV v2 secret (replacing its fields); its new version."""
    answer = vault.secrets.kv.v2.create_or_update_secret(
        path=name, secret=fields, mount_point=kv_mount
    )
    return int(answer["data"]["version"])


def put_secret(
    inventory: str,
    limit: str | None,
    name: str,
    fields: dict[str, str],
    identity: Path | None,
    say: Callable[[str], None],
) -> None:
    """Write an agent secret (e.g. a notification channel's credentials) into each host's
    Vault, logged in with the operator's break-glass AppRole (opened with ``identity``).
    Prints the secret's name, field names and version, never a value."""
    from roles.vault.keys import ADMIN_CREDENTIALS, load_init_keys, operator_file

    check_agent_secret_name(name)
    targets = vault_hosts(inventory, limit)
    for target in targets:  # every host's channels agree before anything is written
        check_channel_fields(target.channels, name, fields)
    for target in targets:
        path = operator_file(target.controller_dir, ADMIN_CREDENTIALS)
        if path is None:
            raise SovereignError(f"no {ADMIN_CREDENTIALS}(.age) in {target.controller_dir}")
        try:
            admin = load_init_keys(path, identity)
        except (ValueError, OSError) as exc:
            raise SovereignError(f"{path}: {exc}") from None
        with session(target) as vault:
            vault.auth.approle.login(role_id=admin["role_id"], secret_id=admin["secret_id"])
            try:
                version = write_secret(vault, target.kv_mount, name, fields)
            finally:
                vault.auth.token.revoke_self()
        say(
            f"{target.host.name}: {target.kv_mount}/{name} version {version} "
            f"(fields: {', '.join(sorted(fields))})"
        )
