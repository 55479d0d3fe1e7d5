"""The agent's first admin token, made by the deploy on the host and handed to the operator the
way Vault's key shares are: age-encrypted to the operator's keys on the controller (or, with
none configured, a mode-600 file and a loud warning). Runs on the controller at execution time;
the token passes through this process's memory only, never pyinfra's output or a log.
"""

from __future__ import annotations

import datetime as dt
import shlex
from pathlib import Path

from pyinfra import logger
from pyinfra.api import OperationError, StringCommand
from pyinfra.api.host import Host
from pyinfra.api.state import State

from roles.agent.facts import SECURITY_CLI
from roles.vault.keys import operator_file, save_for_operator

ADMIN_TOKEN = "agent-admin-token.json"  # noqa: S105 - a file name
TOKEN_PREFIX = "sva_"  # noqa: S105 - what every token starts with


def admin_token_file(directory: Path) -> Path | None:
    """The operator's copy of the admin token (encrypted or not), if there is one."""
    return operator_file(directory, ADMIN_TOKEN)


def token_name(now: dt.datetime) -> str:
    return f"deploy-admin-{now:%Y%m%d%H%M%S}"


def create_admin_token(
    state: State, host: Host, directory: str, recipients: list[str], url: str, ca_cert: str
) -> None:
    """Make an admin token with the agent's host CLI and save it for the operator (pyinfra
    passes `state` and `host`)."""
    del state
    now = dt.datetime.now(dt.UTC)
    controller = Path(directory)
    name = token_name(now)
    command = f"{SECURITY_CLI} token create --name {shlex.quote(name)} --role admin"
    ok, output = host.run_shell_command(
        StringCommand(command),
        print_output=False,
        print_input=False,
        _sudo=bool(host.data.get("_sudo")),
    )
    if not ok:
        # stderr carries no token (the CLI prints it on stdout only).
        raise OperationError(
            f"creating the agent's admin token on {host.name} failed: "
            f"{' '.join(output.stderr_lines)[:300]}"
        )
    token = str(output.stdout).strip()
    if not token.startswith(TOKEN_PREFIX) or "\n" in token:
        raise OperationError(f"the agent's host CLI on {host.name} printed no token")
    if earlier := admin_token_file(controller):
        # Its token is no longer an active admin token (revoked, or a new database).
        aside = earlier.with_name(f"{earlier.name}.replaced-{now:%Y%m%d%H%M%S}")
        earlier.rename(aside)
        logger.warning(f"{host.print_prefix}agent: {earlier} held no active admin token any "
                       f"more; kept as {aside.name}")  # fmt: skip
    document = {
        "host": host.name,
        "created": now.isoformat(timespec="seconds"),
        "name": name,
        "role": "admin",
        "token": token,
        "url": url,
        "ca_cert": ca_cert,
        "note": "send as `Authorization: Bearer TOKEN`; revoke with `python -m "
        "appliance.security token revoke NAME` on the host",
    }
    path = save_for_operator(controller, ADMIN_TOKEN, document, recipients)
    del token, document
    if recipients:
        logger.info(f"{host.print_prefix}agent: first admin token {name} encrypted to "
                    f"{len(recipients)} age recipient(s) in {path}")  # fmt: skip
    else:
        logger.warning(
            f"{host.print_prefix}WARNING: the agent's first admin token {name} is in {path} "
            "in clear (mode 600): NO operator age key is configured. Move it to a safe place "
            "now and set vault.operator_age_recipients."
        )
