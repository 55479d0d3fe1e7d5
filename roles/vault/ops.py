"""Operations of the Vault role.

`configure` is the one that touches Vault's API. It reads the host's state (fact) and, once
Vault is up, Vault's own configuration through an SSH tunnel; it no-ops when everything is as
declared, else runs `converge` on the controller at execution time: initialise once (keys to
the controller, encrypted), configure as code, deliver the agent's AppRole credentials, move
PostgreSQL passwords in. No secret passes through an operation's arguments or output.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hvac
from pyinfra import host, logger
from pyinfra.api import FunctionCommand, OperationError, StringCommand, operation
from pyinfra.api.host import Host

from controller.tunnel import forward
from roles.vault import client
from roles.vault.client import VaultDeployError
from roles.vault.desired import ADMIN_ROLE, AGENT_ROLE, DEPLOY_ROLE, Desired, desired, plan
from roles.vault.facts import VaultHostState
from roles.vault.keys import (
    ADMIN_CREDENTIALS,
    DEPLOY_CREDENTIALS,
    init_document,
    keys_path,
    save_for_operator,
    save_init_keys,
    write_private,
)
from roles.vault.layout import (
    AGENT_ACCESSOR,
    AGENT_DIR,
    AGENT_ROLE_ID,
    AGENT_SECRET_ID,
    MOVED_SUFFIX,
    PG_SECRETS_DIR,
    SEAL_KEY,
    USER,
)  # fmt: skip


@operation()
def seal_key(binary: str, port: int) -> Generator[str, None, None]:
    """
    Generate the static seal key on the host once (32 random bytes, readable by Vault only).
    It never leaves the host. Recovery keys cannot unseal without it: back it up with the host.

    + binary, port: as for `configure`, whose host-state fact this reads (one command for both)
    """
    state = host.get_fact(VaultHostState, binary=binary, port=port)
    if state["seal_key"]:
        host.noop(f"{SEAL_KEY} exists")
        return
    yield (
        f"(umask 077 && head -c 32 /dev/urandom > {SEAL_KEY}.new)"
        f" && chown root:{USER} {SEAL_KEY}.new && chmod 440 {SEAL_KEY}.new"
        f" && mv {SEAL_KEY}.new {SEAL_KEY}"
    )


@contextmanager
def vault_session(target: Host, port: int, ca_cert: Path) -> Iterator[hvac.Client]:
    """An hvac client for the host's loopback listener, through the deploy's SSH connection."""
    ssh = getattr(target.connector, "client", None)
    if ssh is None:  # @local: the API is right here
        yield client.hvac_client(f"https://127.0.0.1:{port}", ca_cert)
        return
    with forward(ssh.get_transport(), port) as local_port:
        yield client.hvac_client(f"https://127.0.0.1:{local_port}", ca_cert)


def moves(pg_secrets: list[str]) -> list[str]:
    """PostgreSQL password files still on the host's disk (pure)."""
    return sorted(n for n in pg_secrets if not n.endswith(MOVED_SUFFIX) and not n.startswith("."))


def pending(
    vault: hvac.Client, state: dict[str, Any], kv: str, transit: str, credentials: Path
) -> list[str]:
    """What converge would do on an initialised, unsealed Vault (empty: nothing)."""
    client.login_deploy(vault, credentials)
    want = desired(kv, transit)
    work = [str(c) for c in plan(want, client.read_state(vault, want))]
    if state["role_id"] != client.role_id(vault, AGENT_ROLE):
        work.append("deliver the agent's AppRole credentials")
    elif not state["accessor"] or not client.accessor_valid(vault, AGENT_ROLE, state["accessor"]):
        work.append("deliver a new secret-id to the agent (its current one is gone)")
    work += [f"move the PostgreSQL password of {n} into Vault" for n in moves(state["pg_secrets"])]
    return work


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


def _run(target: Host, command: str, stdin: str | None = None) -> str:
    """A command on the host whose input and output are never printed (they may be secret)."""
    ok, output = target.run_shell_command(
        StringCommand(command),
        print_output=False,
        print_input=False,
        _stdin=stdin,
        _sudo=bool(target.data.get("_sudo")),
    )
    if not ok:
        # stderr of these commands never carries a secret (secrets go in on stdin).
        raise VaultDeployError(f"`{command.split(' ', 1)[0]}` failed on {target.name}: "
                               f"{' '.join(output.stderr_lines)[:300]}")  # fmt: skip
    return str(output.stdout)


def converge(
    state: Any,
    host: Host,
    port: int,
    kv: str,
    transit: str,
    automatic_unseal: bool,
    shares: int,
    threshold: int,
    directory: str,
    ca_cert: str,
    recipients: list[str],
) -> None:
    controller = Path(directory)
    credentials = controller / DEPLOY_CREDENTIALS
    want = desired(kv, transit)
    with vault_session(host, port, Path(ca_cert)) as vault:
        status = client.seal_status(vault)
        if not status.get("initialized"):
            _initialise(
                vault, host, controller, automatic_unseal, shares, threshold, recipients, want
            )
        elif status.get("sealed") and not automatic_unseal:
            raise VaultDeployError(
                f"Vault on {host.name} is sealed: run `sovereign vault unseal INVENTORY`"
            )
        client.wait_unsealed(vault)
        client.login_deploy(vault, credentials)
        client.apply(vault, plan(want, client.read_state(vault, want)))
        _agent_credentials(vault, host)
        _move_postgres_passwords(vault, host, kv)


def _initialise(
    vault: hvac.Client,
    target: Host,
    controller: Path,
    automatic_unseal: bool,
    shares: int,
    threshold: int,
    recipients: list[str],
    want: Desired,
) -> None:
    credentials = controller / DEPLOY_CREDENTIALS
    if credentials.exists() or keys_path(controller):
        # Initialised before from this controller, and now empty: the data is missing (dataset
        # not mounted, wrong restore). A new, empty Vault would hide that; stop instead.
        raise VaultDeployError(
            f"Vault on {target.name} reports it is not initialised, but {controller} holds keys "
            "from an earlier initialisation: its data is missing. Restore it (or, to start "
            f"afresh on purpose, move {controller} away) and deploy again"
        )
    response = client.initialise(vault, automatic_unseal, shares, threshold)
    root_token = str(response["root_token"])
    path = save_init_keys(controller, init_document(target.name, response, threshold), recipients)
    if not automatic_unseal:
        # First unseal with the shares still in memory; later ones need the operator.
        client.unseal_with(vault, list(response["keys_base64"]), threshold)
    del response
    if recipients:
        logger.info(f"{target.print_prefix}Vault initialised: key shares encrypted to "
                    f"{len(recipients)} age recipient(s) in {path}")  # fmt: skip
    else:
        logger.warning(
            f"{target.print_prefix}WARNING: Vault initialised and NO operator age key is "
            f"configured: the key shares are in {path} in clear (mode 600). Move them to a safe "
            "place now and set vault.operator_age_recipients."
        )
    client.wait_unsealed(vault)
    vault.token = root_token
    client.apply(vault, plan(want, client.read_state(vault, want)))
    admin_secret, _ = client.new_secret_id(vault, ADMIN_ROLE)
    admin = {
        "role_id": client.role_id(vault, ADMIN_ROLE),
        "secret_id": admin_secret,
        "note": "break-glass AppRole; log in from the host (bound to 127.0.0.1)",
    }
    admin_path = save_for_operator(controller, ADMIN_CREDENTIALS, admin, recipients)
    del admin, admin_secret
    logger.info(f"{target.print_prefix}Vault: break-glass admin AppRole in {admin_path}")
    secret_id, _ = client.new_secret_id(vault, DEPLOY_ROLE)
    payload = f'{{"role_id": "{client.role_id(vault, DEPLOY_ROLE)}", "secret_id": "{secret_id}"}}\n'
    write_private(credentials, payload.encode())
    vault.auth.token.revoke_self()  # the root token was only for this
    vault.token = None
    logger.info(f"{target.print_prefix}Vault configured; root token revoked")


def _agent_credentials(vault: hvac.Client, target: Host) -> None:
    role_id = client.role_id(vault, AGENT_ROLE)
    current = _run(target, f"cat {AGENT_ROLE_ID} 2>/dev/null; true").strip()
    accessor = _run(target, f"cat {AGENT_ACCESSOR} 2>/dev/null; true").strip()
    if current == role_id and accessor and client.accessor_valid(vault, AGENT_ROLE, accessor):
        return
    if accessor:
        client.destroy_accessor(vault, AGENT_ROLE, accessor)
    secret_id, new_accessor = client.new_secret_id(vault, AGENT_ROLE)
    install = (
        f"install -d -o root -g sovereign -m 750 {AGENT_DIR} && cd {AGENT_DIR} && umask 027 && "
        "cat > {name}.new && chgrp sovereign {name}.new && chmod 640 {name}.new && "
        "mv {name}.new {name}"
    )
    _run(target, install.format(name="role-id"), role_id + "\n")
    _run(target, install.format(name="secret-id"), secret_id + "\n")
    _run(target, install.format(name="secret-id.accessor"), new_accessor + "\n")
    logger.info(f"{target.print_prefix}Vault: agent AppRole credentials delivered "
                f"({AGENT_SECRET_ID}, accessor {new_accessor})")  # fmt: skip


def _move_postgres_passwords(vault: hvac.Client, target: Host, kv: str) -> None:
    listing = _run(target, f"ls -1 {PG_SECRETS_DIR} 2>/dev/null; true").split()
    for name in moves(listing):
        password = _run(target, f"cat {PG_SECRETS_DIR}/{name}").strip()
        client.put_secret(vault, kv, f"postgres/{name}", {"password": password})
        del password
        _run(
            target,
            f"cd {PG_SECRETS_DIR} && touch {name}{MOVED_SUFFIX} && chmod 600 {name}{MOVED_SUFFIX}"
            f" && (shred -u {name} 2>/dev/null || rm -f {name})",
        )
        logger.info(f"{target.print_prefix}Vault: PostgreSQL password of {name} moved to "
                    f"{kv}/postgres/{name}")  # fmt: skip
