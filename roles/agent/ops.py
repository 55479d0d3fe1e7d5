"""Operations of the agent role."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host
from pyinfra.api import OperationError, QuoteString, StringCommand, operation

from roles.agent.facts import INSTALLED_MARKER, AgentInstall

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
