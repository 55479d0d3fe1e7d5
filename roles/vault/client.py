"""The deploy's calls to Vault's HTTP API (hvac), made from the controller.

Nothing here logs or returns a secret except to its caller: init keys go straight to
roles.vault.keys, secret-ids straight to the host over SSH stdin.
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import hvac
from hvac.exceptions import Forbidden, InvalidPath, VaultError

from roles.vault.desired import Change, Desired

WAIT_S = 60.0


class VaultDeployError(RuntimeError):
    """Vault is in a state the deploy must not (or cannot) proceed from; says what to do."""


def hvac_client(url: str, ca_cert: Path, token: str | None = None) -> hvac.Client:
    """An hvac client for one Vault listener, trusting only `ca_cert`."""
    return hvac.Client(url=url, verify=str(ca_cert), token=token, timeout=10)


def seal_status(vault: hvac.Client, wait_s: float = WAIT_S) -> dict[str, Any]:
    """sys/seal-status, waiting for a just-started server to answer."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            status: dict[str, Any] = vault.sys.read_seal_status()
            return status
        except Exception as exc:  # connection refused, TLS not up yet, 5xx while starting
            if time.monotonic() > deadline:
                raise VaultDeployError(
                    f"Vault did not answer within {wait_s:.0f} s: {exc}"
                ) from None
            time.sleep(0.5)


def wait_unsealed(vault: hvac.Client, wait_s: float = WAIT_S) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        status = seal_status(vault, wait_s)
        if not status.get("sealed"):
            wait_active(vault, max(deadline - time.monotonic(), 5.0))
            return status
        if time.monotonic() > deadline:
            raise VaultDeployError(
                f"Vault is still sealed after {wait_s:.0f} s (seal type {status.get('type')})"
            )
        time.sleep(0.3)


def wait_active(vault: hvac.Client, wait_s: float = WAIT_S) -> None:
    """Until this node is the active one (sys/health 200): right after unsealing, raft is
    still electing and every call answers 500."""
    deadline = time.monotonic() + wait_s
    while True:
        response = vault.adapter.get("/v1/sys/health", raise_exception=False)
        code = getattr(response, "status_code", 200)
        if code == 200:
            return
        if time.monotonic() > deadline:
            raise VaultDeployError(f"Vault is not active after {wait_s:.0f} s (health {code})")
        time.sleep(0.3)


def initialise(
    vault: hvac.Client, automatic_unseal: bool, shares: int, threshold: int
) -> dict[str, Any]:
    """sys/init; with an auto-unseal seal the shares are recovery keys."""
    if automatic_unseal:
        result: dict[str, Any] = vault.sys.initialize(
            recovery_shares=shares, recovery_threshold=threshold
        )
    else:
        result = vault.sys.initialize(secret_shares=shares, secret_threshold=threshold)
    return result


def unseal_with(vault: hvac.Client, keys_b64: list[str], threshold: int) -> None:
    for key in keys_b64[:threshold]:
        vault.sys.submit_unseal_key(key=key)


def _data(response: Any) -> dict[str, Any]:
    if isinstance(response, dict):
        inner = response.get("data")
        return dict(inner) if isinstance(inner, dict) else dict(response)
    return {}


def read_state(vault: hvac.Client, want: Desired) -> dict[str, Any]:
    """What plan() compares against: only the objects the appliance manages."""
    mounts = _data(vault.sys.list_mounted_secrets_engines())
    auth = _data(vault.sys.list_auth_methods())
    policies: dict[str, str | None] = {}
    for name in want.policies:
        try:
            policies[name] = _data(vault.sys.read_acl_policy(name)).get("policy")
        except InvalidPath:
            policies[name] = None
    approles: dict[str, dict[str, Any] | None] = {}
    for name in want.approles:
        try:
            approles[name] = _data(vault.auth.approle.read_role(name))
        except (InvalidPath, VaultError):
            approles[name] = None  # also: approle not enabled yet
    keys = []
    for mount, key in want.transit_keys:
        try:
            vault.secrets.transit.read_key(key, mount_point=mount)
            keys.append((mount, key))
        except (InvalidPath, VaultError):
            pass
    return {
        "mounts": {
            path: {"type": spec.get("type"), "options": spec.get("options") or {}}
            for path, spec in mounts.items()
            if isinstance(spec, dict) and "type" in spec
        },
        "auth": {path: spec.get("type") for path, spec in auth.items() if isinstance(spec, dict)},
        "policies": policies,
        "approles": approles,
        "transit_keys": keys,
    }


def apply(vault: hvac.Client, changes: list[Change]) -> None:
    for change in changes:
        try:
            _apply_one(vault, change)
        except Forbidden:
            raise VaultDeployError(
                f"{change}: the deploy's AppRole may not make this change (it guards the "
                "break-glass admin and its own policy); make it with the admin AppRole "
                "(docs/vault.md)"
            ) from None


def _apply_one(vault: hvac.Client, change: Change) -> None:
    path = change.name.rstrip("/")
    if change.kind == "mount":
        if change.why.startswith("upgrade"):
            vault.sys.tune_mount_configuration(path, options=change.spec["options"])
        else:
            vault.sys.enable_secrets_engine(
                backend_type=change.spec["type"], path=path, options=change.spec["options"]
            )
    elif change.kind == "auth":
        vault.sys.enable_auth_method(method_type=change.spec["type"], path=path)
    elif change.kind == "policy":
        vault.sys.create_or_update_acl_policy(name=path, policy=change.spec["policy"])
    elif change.kind == "approle":
        vault.adapter.post(f"/v1/auth/approle/role/{path}", json=change.spec)
    elif change.kind == "transit-key":
        mount, key = path.split("/", 1)
        vault.secrets.transit.create_key(name=key, mount_point=mount)
    else:  # pragma: no cover - plan() produces only the kinds above
        raise ValueError(f"unknown change kind {change.kind}")


def login_deploy(vault: hvac.Client, credentials: Path) -> None:
    creds = json.loads(credentials.read_text())
    try:
        vault.auth.approle.login(role_id=creds["role_id"], secret_id=creds["secret_id"])
    except (Forbidden, InvalidPath, VaultError) as exc:
        raise VaultDeployError(
            f"the deploy's AppRole credentials in {credentials} are refused ({exc}). If they "
            "were revoked, make new ones with a root token (see docs/vault.md)"
        ) from None


def role_id(vault: hvac.Client, role: str) -> str:
    return str(vault.auth.approle.read_role_id(role)["data"]["role_id"])


def accessor_valid(vault: hvac.Client, role: str, accessor: str) -> bool:
    try:
        vault.auth.approle.read_secret_id_accessor(role, accessor)
    except (InvalidPath, VaultError):
        return False
    return True


def new_secret_id(vault: hvac.Client, role: str) -> tuple[str, str]:
    """(secret_id, accessor)."""
    data = vault.auth.approle.generate_secret_id(role)["data"]
    return str(data["secret_id"]), str(data["secret_id_accessor"])


def destroy_accessor(vault: hvac.Client, role: str, accessor: str) -> None:
    with suppress(InvalidPath, VaultError):  # already gone
        vault.auth.approle.destroy_secret_id_accessor(role, accessor)


def has_secret(vault: hvac.Client, mount: str, path: str) -> bool:
    try:
        vault.secrets.kv.v2.read_secret_metadata(path, mount_point=mount)
    except InvalidPath:
        return False
    return True


def put_secret(vault: hvac.Client, mount: str, path: str, fields: dict[str, str]) -> None:
    vault.secrets.kv.v2.create_or_update_secret(path, secret=fields, mount_point=mount)
    read = vault.secrets.kv.v2.read_secret_version(
        path, mount_point=mount, raise_on_deleted_version=True
    )
    if read["data"]["data"] != fields:
        raise VaultDeployError(f"{mount}/{path} did not read back as written")
