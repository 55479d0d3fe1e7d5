"""Operations of the Vault role.

`configure` is the one that touches Vault's API. It reads the host's state (fact) and, once
Vault is up, Vault's own configuration through an SSH tunnel (roles/vault/converge.py); it
no-ops when everything is as declared, else yields `converge`, which pyinfra runs on the
controller at execution time. No secret passes through an operation's arguments or output.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, OperationError, operation

from roles.vault.client import VaultDeployError
from roles.vault.converge import converge, pending, vault_session
from roles.vault.facts import VaultHostState, VaultSealKey
from roles.vault.keys import DEPLOY_CREDENTIALS
from roles.vault.layout import SEAL_KEY, USER

SEAL_KEY_OWNER = f"root:{USER} 440"


def plan_seal_key(state: dict[str, Any]) -> str:
    """'generate' | 'own' (give the key its owner and mode) | 'noop'; raises when Vault's
    data is there without its key: a new key could never unseal that data (pure)."""
    if not state["key"]:
        if state["data"]:
            raise OperationError(
                f"{SEAL_KEY} is missing but the raft storage holds Vault's data: a new seal key "
                "could never unseal it, so none is made. Restore the key (`sovereign rebuild` "
                "does, from tank/backups/keys/seal.key.age; docs/disaster-recovery.md) and "
                "deploy again"
            )
        return "generate"
    return "noop" if state["key"] == SEAL_KEY_OWNER else "own"


@operation()
def seal_key(data_dir: str) -> Generator[str, None, None]:
    """
    Generate the static seal key on the host once (32 random bytes, readable by Vault only).
    It never leaves the host in clear. Recovery keys cannot unseal without it: it is backed up
    encrypted (roles/vault/backup.py). A key restored by a rebuild gets its owner and mode;
    with Vault's data present and no key, nothing is generated (the op fails, saying why).

    + data_dir: Vault's raft storage (the tank/vault dataset)
    """
    action = plan_seal_key(host.get_fact(VaultSealKey, data_dir=data_dir))
    if action == "noop":
        host.noop(f"{SEAL_KEY} exists")
        return
    if action == "own":
        yield f"chown root:{USER} {SEAL_KEY} && chmod 440 {SEAL_KEY}"
        return
    yield (
        f"(umask 077 && head -c 32 /dev/urandom > {SEAL_KEY}.new)"
        f" && chown root:{USER} {SEAL_KEY}.new && chmod 440 {SEAL_KEY}.new"
        f" && mv {SEAL_KEY}.new {SEAL_KEY}"
    )


@operation()
def configure(
    binary: str,
    port: int,
    kv_mount: str,
    transit_mount: str,
    automatic_unseal: bool,
    key_shares: int,
    key_threshold: int,
    controller_dir: str,
    ca_cert: str,
    age_recipients: list[str],
) -> Generator[FunctionCommand, None, None]:
    """
    Initialise (once), unseal (first time, shamir), configure and hand out credentials.

    + binary: the server binary on the host (for the status fact)
    + port: API port (loopback listener)
    + kv_mount, transit_mount: engine mounts
    + automatic_unseal: the seal unseals by itself (static, transit)
    + key_shares, key_threshold: unseal or recovery key shares
    + controller_dir: where init keys and the deploy's credentials live on the controller
    + ca_cert: controller path of the listener's CA certificate
    + age_recipients: operator public keys the init keys are encrypted to
    """
    state = host.get_fact(VaultHostState, binary=binary, port=port)
    status = state["status"]
    directory = Path(controller_dir)
    credentials = directory / DEPLOY_CREDENTIALS
    kwargs = {
        "port": port, "kv": kv_mount, "transit": transit_mount,
        "automatic_unseal": automatic_unseal, "shares": key_shares,
        "threshold": key_threshold, "directory": controller_dir, "ca_cert": ca_cert,
        "recipients": age_recipients,
    }  # fmt: skip
    if status and status.get("initialized") and not status.get("sealed"):
        if not credentials.exists():
            raise OperationError(
                f"Vault on {host.name} is initialised but {credentials} is missing, so this "
                "controller cannot configure it. Restore that file from the controller's "
                "backup, or make new deploy credentials with a root token (docs/vault.md)."
            )
        with vault_session(host, port, Path(ca_cert)) as vault:
            try:
                work = pending(vault, state, kv_mount, transit_mount, credentials)
            except VaultDeployError as exc:
                raise OperationError(f"Vault on {host.name}: {exc}") from None
        if not work:
            host.noop("Vault is initialised, unsealed and configured as declared")
            return
        logger.info(f"{host.print_prefix}Vault: {'; '.join(work)}")
    elif status and status.get("initialized") and not automatic_unseal:
        raise OperationError(
            f"Vault on {host.name} is sealed (shamir seal): unseal it with "
            "`sovereign vault unseal INVENTORY`, then deploy again"
        )
    else:
        # First deploy (not installed or not answering yet), or sealed and auto-unsealing.
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    yield FunctionCommand(converge, (), kwargs)
