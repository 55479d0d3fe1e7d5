"""Operations of the agent role."""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

from pyinfra import host
from pyinfra.api import (
    FileUploadCommand,
    FunctionCommand,
    OperationError,
    QuoteString,
    StringCommand,
    operation,
)

from roles.agent.facts import (
    INSTALLED_MARKER,
    SYNC_CLI,
    AdminTokens,
    AgentInstall,
    SyncIdentity,
    WheelhouseState,
    wheelhouse_manifest,
)
from roles.agent.handover import create_admin_token

VENV = "/opt/sovereign/agent"


def wheel_python(wheels: list[str]) -> str | None:
    """The CPython version the wheelhouse's binary wheels were built for (e.g. "3.11")."""
    for wheel in wheels:
        parts = wheel.removesuffix(".whl").split("-")
        if len(parts) < 5:
            continue
        python_tag, abi_tag = parts[-3], parts[-2]
        # abi3 and pure wheels suit any later Python; cpXY-cpXY ones only that version.
        if python_tag.startswith("cp3") and abi_tag == python_tag:
            return f"3.{python_tag[3:]}"
    return None


@operation()
def install_agent(
    wheelhouse: str, digest: str, wheels: list[str]
) -> Generator[StringCommand, None, None]:
    """
    Install the agent into its venv from the uploaded wheelhouse, only when it changed.

    + wheelhouse: directory on the host holding the wheels
    + digest: the wheelhouse's digest (recorded on the host after a successful install)
    + wheels: the wheel file names (their tags must suit the host's Python)
    """
    state = host.get_fact(AgentInstall)
    want = wheel_python(wheels)
    if want and state.get("python") and state["python"] != want:
        raise OperationError(
            f"the agent wheelhouse is built for Python {want}, the host has {state['python']}: "
            "build it with that Python (`sovereign artifacts fetch` from a matching venv)"
        )
    if state.get("digest") == digest:
        host.noop("agent is installed from this wheelhouse")
        return
    yield StringCommand("test -x", f"{VENV}/bin/python", "||", "python3 -m venv", VENV)
    yield StringCommand(
        f"{VENV}/bin/pip", "install", "--quiet", "--no-index", "--disable-pip-version-check",
        "--force-reinstall", "--find-links", QuoteString(wheelhouse), "sovereign-agent",
    )  # fmt: skip
    yield StringCommand("echo", QuoteString(digest), ">", INSTALLED_MARKER)


WHEEL_NAME = re.compile(r"^[A-Za-z0-9_.+-]+\.whl$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _intact(name: str, sha256: str, state: dict[str, Any]) -> bool:
    """The host's copy of a wheel is the one the manifest recorded putting there (pure)."""
    entry, put = state["present"].get(name), state["recorded"].get(name)
    return bool(
        entry
        and put
        and entry["type"] == "f"
        and put["sha256"] == sha256
        and (entry["size"], entry["mtime"]) == (put["size"], put["mtime"])
    )


@operation()
def wheelhouse(
    src: str, dest: str, wheels: dict[str, str]
) -> Generator[StringCommand | FileUploadCommand, None, None]:
    """
    Put the agent's wheelhouse on the host: upload the wheels that are missing or not the
    ones recorded, delete what is not part of it, and record what is there.

    + src: the wheelhouse directory on the controller (verified against the artifact manifest)
    + dest: its directory on the host
    + wheels: wheel file name -> sha256, as the artifact manifest lists them

    One fact, WheelhouseState: a listing of `dest` (size, mtime) and the manifest written by
    the last upload (sha256, size, mtime of each wheel then). A wheel replaced on the host
    since changes size or mtime and is uploaded again. Uploads are checked with sha256sum
    on the host before the manifest records them.
    """
    for name, sha in wheels.items():
        if not WHEEL_NAME.match(name) or not SHA256.match(sha):
            raise OperationError(f"not a wheel and its sha256: {name!r} {sha!r}")
    state = host.get_fact(WheelhouseState, path=dest)
    upload = sorted(n for n in wheels if not _intact(n, wheels[n], state))
    extra = sorted(n for n in state["present"] if n not in wheels)
    if not upload and not extra and set(state["recorded"]) == set(wheels):
        host.noop(f"{dest} holds the {len(wheels)} wheels of the manifest")
        return
    yield StringCommand("install", "-d", "-m", "755", QuoteString(dest))
    if extra:
        yield StringCommand("rm", "-rf", "--", *(QuoteString(f"{dest}/{n}") for n in extra))
    for name in upload:
        yield FileUploadCommand(f"{src}/{name}", f"{dest}/{name}")
    check = [part for n in upload for part in (wheels[n], n)]
    record = [
        part
        for n in sorted(wheels)
        for part in ("printf", "'%s|%s|%s\\n'", n, wheels[n], f"\"$(stat -c '%s|%Y' -- {n})\";")
    ]
    manifest = wheelhouse_manifest(dest)
    yield StringCommand(
        "cd", QuoteString(dest),
        *(("&&", "printf", "'%s  %s\\n'", *check, "|", "sha256sum", "-c", "--quiet", "-")
          if upload else ()),
        *(("&&", "chmod", "644", "--", *upload) if upload else ()),
        "&&", "{", *record, "}", ">", QuoteString(f"{manifest}.new"),
        "&&", "mv", "-f", QuoteString(f"{manifest}.new"), QuoteString(manifest),
    )  # fmt: skip


@operation()
def admin_token(
    directory: str, recipients: list[str], url: str, ca_cert: str, handed_over: str | None = None
) -> Generator[FunctionCommand, None, None]:
    """
    Make the agent's first admin token once: only while its database holds no active admin
    token. The token is handed to the operator on the controller (age-encrypted to
    ``recipients``, else mode 600 with a warning), never printed.

    + directory: the host's controller directory (the appliance CA's)
    + recipients: operator age public keys
    + url: where the agent is reached (written beside the token)
    + ca_cert: the controller's copy of the appliance CA certificate
    + handed_over: the controller's file of the token handed over before, if there is one

    One fact, AdminTokens: the active admin tokens' names, from the agent's host CLI (a Python
    start on the host, ~1 s: read only while the controller holds no handed-over token).
    """
    if handed_over:
        host.noop(f"the first admin token was handed over ({handed_over}); move that file "
                  "away to have the next deploy make another")  # fmt: skip
        return
    state = host.get_fact(AdminTokens)
    if state["admins"]:
        host.noop(f"the agent has an admin token ({', '.join(state['admins'])})")
        return
    if state["installed"] and state["rc"] != 0:
        raise OperationError(
            f"the agent's host CLI could not list its tokens (exit {state['rc']}): run "
            "`python -m appliance.security token list` on the host to see why"
        )
    yield FunctionCommand(
        create_admin_token, (),
        {"directory": directory, "recipients": recipients, "url": url, "ca_cert": ca_cert},
    )  # fmt: skip


@operation()
def sync_identity() -> Generator[StringCommand, None, None]:
    """
    Make the appliance's sync identity (an age key) in the agent's secrets backend when it
    holds none, through the agent's own host CLI on the host: the key goes from pyrage into
    Vault KV and is never on the controller, in the output or in a log (the command prints
    only the public recipient). Never replaces one: documents stay decryptable.

    One fact, SyncIdentity (asked before the deploy: on the first one the agent is not
    installed yet, and the command, which checks again, runs after it is).
    """
    state = host.get_fact(SyncIdentity)
    if state["state"] == "present":
        host.noop(f"the sync identity is in the secrets backend ({state['recipient']})")
        return
    yield StringCommand(SYNC_CLI, "identity", "--create")
