"""Facts of the zfs role: the whole ZFS state of a host from ONE remote command.

pyinfra's own ZFS facts need `zpool get -H`, which zfs-fuse lacks, and cost a command per
dataset; this one runs `appliance.zfs.commands.state_command()` and parses it with the same
pure code the agent uses.
"""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase

from appliance.zfs.commands import state_command
from appliance.zfs.state import parse_state, state_to_dict


class ZfsStorage(FactBase[dict[str, Any] | None]):
    """Pools (health, vdev tree), datasets (exact `zfs get -Hp` values) and capabilities.

    Returns a plain dict (see `appliance.zfs.state.state_to_dict`); None where `zpool` is not
    installed yet. When the backend is installed but unreachable, `error` says why.
    """

    @staticmethod
    def default() -> dict[str, Any] | None:
        return None

    def requires_command(self) -> str:
        return "zpool"

    def command(self) -> str:
        return state_command()

    def process(self, output: list[str]) -> dict[str, Any] | None:
        return state_to_dict(parse_state("\n".join(output)))


class ZfsKernelModule(FactBase[bool]):
    """Whether the running kernel can load the OpenZFS module (else DKMS must build it)."""

    @staticmethod
    def default() -> bool:
        return False

    def command(self) -> str:
        return "modinfo zfs >/dev/null 2>&1 && echo yes || echo no"

    def process(self, output: list[str]) -> bool:
        return bool(output) and output[-1].strip() == "yes"
