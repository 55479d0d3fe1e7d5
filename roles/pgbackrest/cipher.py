"""The repository's encryption (pure): where its passphrase is kept, what a deploy does about
it. No host, no pyinfra.

pgBackRest reads the passphrase (`repo1-cipher-pass`) from a file of its include directory,
/etc/pgbackrest/conf.d/sovereign-cipher.conf, root:postgres 0640: every pgBackRest command
runs as postgres, PostgreSQL's archive_command and restore_command included, and Debian's
pg_ctlcluster starts the server with a scrubbed environment, so neither an EnvironmentFile nor
a root-only file can reach them. pgBackRest redacts the option in its own output; it is never
on a command line or in the deploy's output. Copies: Vault KV (`postgres/pgbackrest-cipher`,
field `passphrase`), and the same file age-encrypted to the operator's recipients in
vault.backup.keys_dir on tank/backups (replicated with it), from which `sovereign rebuild`
puts it back before anything reads the restored repository.

pgBackRest cannot change an existing repository's cipher, so a deploy refuses (naming the
way out) when the repository found and the setting disagree, and never makes a new
passphrase for a repository that already holds encrypted files.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

CONF_DIR = "/etc/pgbackrest/conf.d"  # pgBackRest's default config-include-path
CIPHER_FILE = f"{CONF_DIR}/sovereign-cipher.conf"
OWNER = "root:postgres:640"
#: The digest of CIPHER_FILE as last written to Vault (a digest only: never the passphrase).
VAULT_MARKER = "/etc/pgbackrest/sovereign-cipher.vault"
CIPHER_COPY = "pgbackrest-cipher.conf.age"
VAULT_SECRET = "postgres/pgbackrest-cipher"  # noqa: S105 - a path, not a secret
VAULT_FIELD = "passphrase"
OPTION = "repo1-cipher-pass"
CIPHER_TYPE = "aes-256-cbc"
#: What pgBackRest's encrypted files begin with (OpenSSL's salted format).
ENCRYPTED_MAGIC = "Salted__"
PLAIN_MAGIC = "[backrest]"


class CipherRefused(Exception):
    """The repository on the host and the setting disagree; the message says what to do."""


@dataclass(frozen=True)
class CipherState:
    has_pass: bool
    #: none (no info file yet) | plain | encrypted, from the stanza's first info file's bytes.
    repo: str
    #: user:group:mode of the passphrase file ("" without one).
    owner: str = ""


def repo_probe_command(repo_path: str, stanza: str) -> str:
    """Prints `pass yes|no`, `owner U:G:MODE` and `repo` with the first bytes of an info file
    (or `none`)."""
    env = shlex.quote(CIPHER_FILE)
    infos = " ".join(
        shlex.quote(f"{repo_path}/{kind}/{stanza}/{kind}.info") for kind in ("backup", "archive")
    )
    return (
        f"if [ -s {env} ]; then echo pass yes; echo owner $(stat -c %U:%G:%a {env}); "
        "else echo pass no; fi; "
        f'for f in {infos}; do if [ -s "$f" ]; then '
        f"printf 'repo '; head -c 10 \"$f\" | od -An -c | tr -d ' \\n'; echo; exit 0; fi; "
        "done; echo repo none"
    )


def parse_probe(lines: list[str]) -> CipherState:
    """The probe's output (pure): od's characters of the info file's first bytes."""
    has_pass, repo, owner = False, "none", ""
    for line in lines:
        key, _, value = line.strip().partition(" ")
        if key == "pass":
            has_pass = value.strip() == "yes"
        elif key == "owner":
            owner = value.strip()
        elif key == "repo":
            value = value.strip()
            if value == "none":
                repo = "none"
            elif value.startswith(ENCRYPTED_MAGIC):
                repo = "encrypted"
            else:
                repo = "plain" if value.startswith(PLAIN_MAGIC) else "encrypted"
    return CipherState(has_pass, repo, owner)


def cipher_action(encrypt: bool, state: CipherState, repo_path: str) -> str | None:
    """'generate' when an encrypted repository is wanted and none exists yet, 'own' when the
    file is there but not root:postgres 0640 (a rebuild writes it before the postgres user
    exists), else None when all agrees. Raises CipherRefused when pgBackRest could not use
    the repository found."""
    if not encrypt:
        if state.repo == "encrypted":
            raise CipherRefused(
                f"{repo_path} is encrypted but pgbackrest.repo_cipher resolves to none (no Vault "
                "with operator_age_recipients?): without its passphrase it cannot be read. Set "
                "repo_cipher back, or move the repository aside to start an unencrypted one"
            )
        return None
    if state.repo == "plain":
        raise CipherRefused(
            f"{repo_path} holds an UNENCRYPTED pgBackRest repository and pgBackRest cannot "
            "encrypt an existing one. Either keep it unencrypted (pgbackrest.repo_cipher = "
            f"'none'), or move it aside (mv {repo_path} {repo_path}.plain) and deploy again: a "
            "new encrypted stanza and a first full backup are made; delete the old one when "
            "you no longer need its backups (docs/disaster-recovery.md)"
        )
    if state.has_pass:
        return None if state.owner == OWNER else "own"
    if state.repo == "encrypted":
        raise CipherRefused(
            f"{repo_path} is encrypted but this host has no {CIPHER_FILE}: a new passphrase "
            "would not open it. Put the passphrase back (sovereign rebuild does, from "
            f"{CIPHER_COPY} in vault.backup.keys_dir; or from Vault's {VAULT_SECRET}) and deploy "
            "again"
        )
    return "generate"


def generate_command() -> str:
    """A new random passphrase (256 bits, hex) into the file: made on the host, never in the
    command or its output."""
    new = shlex.quote(f"{CIPHER_FILE}.new")
    return (
        f"install -d -o root -g root -m 755 {shlex.quote(CONF_DIR)} && "
        f"(umask 077 && p=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n') && "
        f"printf '[global]\\n{OPTION}=%s\\n' \"$p\" > {new}) && " + own_command(new)
    )


def own_command(path: str = CIPHER_FILE) -> str:
    """root:postgres 0640 (pgBackRest runs as postgres), then in place."""
    where = shlex.quote(path)
    final = shlex.quote(CIPHER_FILE)
    move = f" && mv {where} {final}" if path != CIPHER_FILE else ""
    return f"chgrp postgres {where} && chmod 640 {where}{move}"


def install_command() -> str:
    """Write the file from stdin (a rebuild's decrypted copy), root-only until the deploy's
    pgBackRest stage gives it to the postgres group (which does not exist yet)."""
    env, new = shlex.quote(CIPHER_FILE), shlex.quote(f"{CIPHER_FILE}.new")
    return (
        f"install -d -o root -g root -m 755 {shlex.quote(CONF_DIR)} && "
        f"(umask 077 && cat > {new}) && chmod 600 {new} && mv {new} {env}"
    )


def parse_conf(text: str) -> str:
    """The passphrase of the file's text (pure); ValueError without one (never echoing it)."""
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == OPTION and value.strip():
            return value.strip()
    raise ValueError(f"no {OPTION}=… line")
