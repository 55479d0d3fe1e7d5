"""Operations for the repository's encryption (roles/pgbackrest/cipher.py says where the
passphrase is kept): made once on the host, copied to Vault KV and age-encrypted to the
operator. Each reads a fact, decides with cipher.py, yields only what is needed; no
passphrase passes through an argument, a command line or output."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

from pyinfra import host
from pyinfra.api import FunctionCommand, OperationError, QuoteString, StringCommand, operation
from pyinfra.api.host import Host

from roles.common.facts import DigestMarker
from roles.pgbackrest.cipher import (
    CIPHER_FILE,
    VAULT_FIELD,
    VAULT_MARKER,
    VAULT_SECRET,
    CipherRefused,
    cipher_action,
    generate_command,
    own_command,
    parse_conf,
)
from roles.pgbackrest.facts import RepositoryCipher


@operation()
def passphrase(repo_path: str, stanza: str, encrypt: bool) -> Generator[StringCommand, None, None]:
    """
    The repository's passphrase file: made once when an encrypted repository is wanted and
    none exists; refused (the deploy stops, saying why) when the repository found could not
    be used with the setting.

    + repo_path: the repository
    + stanza: the stanza whose info files say whether it is encrypted
    + encrypt: an encrypted repository is wanted
    """
    state = host.get_fact(RepositoryCipher, repo_path=repo_path, stanza=stanza)
    try:
        action = cipher_action(encrypt, state, repo_path)
    except CipherRefused as exc:
        raise OperationError(f"{host.name}: {exc}") from None
    if action is None:
        host.noop(f"{repo_path}: {'encrypted' if encrypt else 'not encrypted'}, as set")
        return
    yield StringCommand(generate_command() if action == "generate" else own_command())


def digest_command(tag: str) -> str:
    """The file's digest with a tag, as DigestMarker computes it."""
    return f"{{ cat {CIPHER_FILE}; printf '%s' '{tag}'; }} | sha256sum | cut -d' ' -f1"


@operation()
def age_copy(recipients: list[str], dest: str) -> Generator[StringCommand, None, None]:
    """
    The passphrase file encrypted on the host with age to the operator's recipients (it
    never leaves the host in clear), again only when it or the recipients changed.

    + recipients: age public keys (age1…)
    + dest: the encrypted copy (vault.backup.keys_dir, on tank/backups)
    """
    marker = f"{dest}.sha256"
    joined = "\n".join(sorted(recipients))
    state = host.get_fact(DigestMarker, path=CIPHER_FILE, marker=marker, tag=joined)
    if state["current"] and state["current"] == state["copied"]:
        host.noop(f"{dest} holds the passphrase as it is")
        return
    flags = " ".join(f"-r {QuoteString(r).obj}" for r in recipients)
    yield StringCommand(
        f"d=$({{ cat {CIPHER_FILE}; printf '%s' '{joined}'; }} | sha256sum | cut -d' ' -f1) && "
        f"(umask 077 && age {flags} -o {dest}.new {CIPHER_FILE}) && mv {dest}.new {dest} && "
        f'echo "$d" > {marker}'
    )


def _to_vault(
    state: Any, host: Host, port: int, kv: str, ca_cert: str, credentials: str, tag: str
) -> None:
    """At execution time (the file may be this deploy's): read it over SSH (not printed),
    write it to Vault as the deploy's AppRole, read it back, then record its digest."""
    from roles.vault import client
    from roles.vault.converge import _run, vault_session

    mark = _run(host, digest_command(tag)).strip()
    try:
        secret = parse_conf(_run(host, f"cat {CIPHER_FILE}"))
    except ValueError as exc:
        raise OperationError(f"{host.name}: {CIPHER_FILE}: {exc}") from None
    with vault_session(host, port, Path(ca_cert)) as vault:
        client.login_deploy(vault, Path(credentials))
        try:
            client.put_secret(vault, kv, VAULT_SECRET, {VAULT_FIELD: secret})
        finally:
            vault.auth.token.revoke_self()
    del secret
    _run(host, f"(umask 077 && echo {mark} > {VAULT_MARKER})")


@operation()
def vault_copy(
    port: int, kv: str, ca_cert: str, credentials: str
) -> Generator[FunctionCommand, None, None]:
    """
    The passphrase in Vault KV (postgres/pgbackrest-cipher, field passphrase), written again
    only when the file's digest differs from the one recorded after the last write.

    + port: Vault's loopback API port
    + kv: the KV v2 mount
    + ca_cert: controller path of Vault's CA certificate
    + credentials: the deploy's AppRole credentials on the controller
    """
    tag = f"vault:{kv}"
    state = host.get_fact(DigestMarker, path=CIPHER_FILE, marker=VAULT_MARKER, tag=tag)
    if state["current"] and state["current"] == state["copied"]:
        host.noop(f"Vault's {kv}/{VAULT_SECRET} holds the passphrase as it is")
        return
    yield FunctionCommand(
        _to_vault,
        (),
        {"port": port, "kv": kv, "ca_cert": ca_cert, "credentials": credentials,
         "tag": tag},
    )  # fmt: skip
