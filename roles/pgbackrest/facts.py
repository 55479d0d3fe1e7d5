"""Facts of the pgbackrest role: the stanza as `pgbackrest info` reports it."""

from __future__ import annotations

from pyinfra.api import FactBase

from appliance.backup.pgbackrest_info import StanzaInfo, parse_info
from roles.pgbackrest.cipher import CipherState, parse_probe, repo_probe_command


class StanzaState(FactBase[StanzaInfo | None]):
    """The stanza's status and backups (None: pgBackRest is not installed or does not know
    it). Read as postgres: root would leave root-owned lock files behind."""

    @staticmethod
    def default() -> None:
        return None

    def command(self, stanza: str) -> str:
        return (
            "command -v pgbackrest >/dev/null || exit 0; "
            f"cd / && runuser -u postgres -- pgbackrest --stanza={stanza} --output=json info"
            " 2>/dev/null || true"
        )

    def process(self, output: list[str]) -> StanzaInfo | None:
        text = "\n".join(output).strip()
        return parse_info(text) if text else None


class RepositoryCipher(FactBase[CipherState]):
    """Whether the host has the passphrase file, and whether the stanza's repository is
    absent, plain or encrypted (from an info file's first bytes: never the passphrase)."""

    @staticmethod
    def default() -> CipherState:
        return CipherState(has_pass=False, repo="none")

    def command(self, repo_path: str, stanza: str) -> str:
        return repo_probe_command(repo_path, stanza)

    def process(self, output: list[str]) -> CipherState:
        return parse_probe(output)
