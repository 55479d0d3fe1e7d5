"""Operations of the replication role."""

from __future__ import annotations

from collections.abc import Generator

from pyinfra import host
from pyinfra.api import QuoteString, StringCommand, operation

from roles.agent.facts import INSTALLED_MARKER, AgentInstall
from roles.agent.ops import VENV


@operation()
def install_runner(
    wheelhouse: str, digest: str, wheels: list[str]
) -> Generator[StringCommand, None, None]:
    """
    Install the replica pruner's code on a plain backup host: the agent's venv holding only
    the given wheels, without their dependencies (no agent service is installed or run).

    + wheelhouse: directory on the host holding the wheels
    + digest: what they are (recorded on the host after a successful install)
    + wheels: the wheel file names, all installed with --no-deps
    """
    if host.get_fact(AgentInstall).get("digest") == digest:
        host.noop("the replica pruner is installed from these wheels")
        return
    yield StringCommand("test -x", f"{VENV}/bin/python", "||", "python3 -m venv", VENV)
    yield StringCommand(
        f"{VENV}/bin/pip", "install", "--quiet", "--no-index", "--no-deps",
        "--disable-pip-version-check", "--force-reinstall",
        *(QuoteString(f"{wheelhouse}/{name}") for name in wheels),
    )  # fmt: skip
    yield StringCommand("echo", QuoteString(digest), ">", INSTALLED_MARKER)
