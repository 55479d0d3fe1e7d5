"""Nextcloud's database password into its configuration directory (db.config.php, root:www-data
0640), from where the appliance keeps it: Vault KV `postgres/ROLE` on hosts with Vault (read
on the controller with the deploy's AppRole, over the deploy's SSH tunnel), else the postgres
role's root-only file. Written once (the password does not change); it passes through no
operation's arguments, no command line and no output: it goes to the host on stdin."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, StringCommand, operation
from pyinfra.api.host import Host
from pyinfra.facts.files import File

from roles.postgres.facts import SECRETS_DIR as PG_SECRETS_DIR


class SecretDeliveryError(RuntimeError):
    pass


@operation()
def db_password(
    dest: str,
    group: str,
    role: str,
    vault: dict[str, Any] | None,
) -> Generator[FunctionCommand, None, None]:
    """
    Write db.config.php with the database role's password, when it is not there yet.

    + dest: the file on the host
    + group: the group that may read it (the web server's)
    + role: the PostgreSQL role whose password it is
    + vault: {port, kv, ca_cert, credentials} of the host's Vault, or None (no Vault)
    """
    if host.get_fact(File, path=dest):
        host.noop(f"{dest} holds the database password")
        return
    yield FunctionCommand(_deliver, (), {"dest": dest, "group": group, "role": role,
                                         "vault": vault})  # fmt: skip


def _deliver(
    state: Any, host: Host, dest: str, group: str, role: str, vault: dict[str, Any] | None
) -> None:
    if vault is None:
        password = _run(host, f"cat {PG_SECRETS_DIR}/{role}").strip()
    else:
        password = _from_vault(host, role, **vault)
    if not password.isalnum():  # the postgres role makes them of letters and digits
        raise SecretDeliveryError(f"the password of {role} is not what the postgres role makes")
    php = (
        "<?php\n// Managed by Sovereign Appliance (roles/nextcloud): the database password, "
        "written on the host.\n"
        f"$CONFIG = array (\n  'dbpassword' => '{password}',\n);\n"
    )
    del password
    _run(
        host,
        f"umask 027 && cat > {dest}.new && chown root:{group} {dest}.new && chmod 640 {dest}.new"
        f" && mv {dest}.new {dest}",
        stdin=php,
    )


def _from_vault(host: Host, role: str, port: int, kv: str, ca_cert: str, credentials: str) -> str:
    from roles.vault import client
    from roles.vault.converge import vault_session

    with vault_session(host, port, Path(ca_cert)) as vault:
        client.login_deploy(vault, Path(credentials))
        read = vault.secrets.kv.v2.read_secret_version(
            f"postgres/{role}", mount_point=kv, raise_on_deleted_version=True
        )
        return str(read["data"]["data"]["password"])


def _run(target: Host, command: str, stdin: str | None = None) -> str:
    """A command whose input and output are never printed (they are secret)."""
    ok, output = target.run_shell_command(
        StringCommand(command), print_output=False, print_input=False, _stdin=stdin
    )
    if not ok:
        raise SecretDeliveryError(f"`{command.split(' ', 1)[0]}` failed on {target.name}")
    return str(output.stdout)
