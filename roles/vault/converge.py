"""Execution-time side of the Vault role: what `ops.configure` checks and then runs on the
controller once pyinfra executes it, over an SSH tunnel to the host's loopback listener.

`pending` says what is left to do on an initialised, unsealed Vault (the operation's no-op
check); `converge` does it: initialise once (keys to the controller, encrypted), configure as
code, deliver the agent's AppRole credentials, move PostgreSQL passwords in. No secret passes
through an operation's arguments or output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hvac
from pyinfra import logger
from pyinfra.api import StringCommand
from pyinfra.api.host import Host

from controller.tunnel import forward
from roles.vault import client
from roles.vault.client import VaultDeployError
from roles.vault.desired import (
    ADMIN_ROLE,
    AGENT_ROLE,
    BACKUP_ROLE,
    DEPLOY_ROLE,
    Desired,
    desired,
    plan,
)
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
    BACKUP_ACCESSOR,
    BACKUP_DIR,
    BACKUP_ROLE_ID,
    MOVED_SUFFIX,
    PG_SECRETS_DIR,
)  # fmt: skip


@contextmanager
def vault_session(target: Host, port: int, ca_cert: Path) -> Iterator[hvac.Client]:
    """An hvac client for the host's loopback listener, through the deploy's SSH connection.

    The client's keep-alive connection is closed on the way out, so the tunnel sees the end at
    once (otherwise it waits for its next poll, a second per session).
    """
    ssh = getattr(target.connector, "client", None)
    if ssh is None:  # @local: the API is right here
        vault = client.hvac_client(f"https://127.0.0.1:{port}", ca_cert)
        try:
            yield vault
        finally:
            vault.adapter.close()
        return
    with forward(ssh.get_transport(), port) as local_port:
        vault = client.hvac_client(f"https://127.0.0.1:{local_port}", ca_cert)
        try:
            yield vault
        finally:
            vault.adapter.close()


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
    if state.get("backup_role_id") != client.role_id(vault, BACKUP_ROLE):
        work.append("deliver the backup AppRole's credentials")
    elif not state.get("backup_accessor") or not client.accessor_valid(
        vault, BACKUP_ROLE, state["backup_accessor"]
    ):
        work.append("deliver a new secret-id to the raft snapshot timer (its current one is gone)")
    work += [f"move the PostgreSQL password of {n} into Vault" for n in moves(state["pg_secrets"])]
    return work


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
        _backup_credentials(vault, host)
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


def _backup_credentials(vault: hvac.Client, target: Host) -> None:
    """The raft snapshot timer's AppRole credentials, root-only (its unit runs as root)."""
    role_id = client.role_id(vault, BACKUP_ROLE)
    current = _run(target, f"cat {BACKUP_ROLE_ID} 2>/dev/null; true").strip()
    accessor = _run(target, f"cat {BACKUP_ACCESSOR} 2>/dev/null; true").strip()
    if current == role_id and accessor and client.accessor_valid(vault, BACKUP_ROLE, accessor):
        return
    if accessor:
        client.destroy_accessor(vault, BACKUP_ROLE, accessor)
    secret_id, new_accessor = client.new_secret_id(vault, BACKUP_ROLE)
    install = (
        f"install -d -o root -g root -m 700 {BACKUP_DIR} && cd {BACKUP_DIR} && umask 077 && "
        "cat > {name}.new && chmod 600 {name}.new && mv {name}.new {name}"
    )
    _run(target, install.format(name="role-id"), role_id + "\n")
    _run(target, install.format(name="secret-id"), secret_id + "\n")
    _run(target, install.format(name="secret-id.accessor"), new_accessor + "\n")
    del secret_id
    logger.info(f"{target.print_prefix}Vault: backup AppRole credentials delivered "
                f"({BACKUP_DIR}, accessor {new_accessor})")  # fmt: skip


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
