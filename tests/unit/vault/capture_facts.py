"""Capture VaultHostState's output from a real OpenBao for tests/unit/vault/fixtures/.

    python -m tests.unit.vault.capture_facts

Runs the fact's own command (with /etc/sovereign moved into a temporary directory) against a
`bao server` configured by the role's template, in each state the deploy meets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from controller import artifacts
from roles.vault import client as vault_client
from roles.vault.layout import AGENT_ACCESSOR, AGENT_ROLE_ID, PG_SECRETS_DIR, SEAL_KEY
from tests.unit.vault.conftest import BaoServer, SandboxHost

FIXTURES = Path(__file__).parent / "fixtures"


def capture(host: SandboxHost, server: BaoServer, name: str) -> None:
    lines = host.fact_output(server.binary, server.cfg.port)
    text = "\n".join(lines) + "\n"
    # Paths of the temporary sandbox would make the fixture differ on every capture.
    (FIXTURES / f"{name}.txt").write_text(text.replace(str(host.root), "/etc/sovereign"))
    print(f"{name}: {len(lines)} lines")


def main() -> None:
    binary = artifacts.verify(artifacts.default_dir(), "bao")
    FIXTURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        host = SandboxHost(root / "etc")
        static = BaoServer.create(binary, root / "static")
        shamir = BaoServer.create(binary, root / "shamir", seal="shamir")
        try:
            static.start()
            host.install_ca(static)
            capture(host, static, "host-state-not-initialised")  # a first deploy

            vault_client.seal_status(static.client())
            vault_client.initialise(static.client(), True, 5, 3)
            vault_client.wait_unsealed(static.client())
            host.path(SEAL_KEY).write_bytes(b"k" * 32)
            host.path(AGENT_ROLE_ID).parent.mkdir(parents=True)
            host.path(AGENT_ROLE_ID).write_text("5f0c6f3e-6b1a-4c56-9d43-3c1d2f7c8a10\n")
            host.path(AGENT_ACCESSOR).write_text("0c7f5a4e-8e8e-4a43-b2a0-6f1c9f1e2d33\n")
            pg = host.path(PG_SECRETS_DIR)
            pg.mkdir(parents=True)
            for name in ("sovereign.in-vault", "nextcloud"):
                (pg / name).write_text("x")
            capture(host, static, "host-state-unsealed")

            shamir.start()
            host.install_ca(shamir)
            vault_client.seal_status(shamir.client())
            vault_client.initialise(shamir.client(), False, 5, 3)
            capture(host, shamir, "host-state-sealed-shamir")
            shamir.stop()
            capture(host, shamir, "host-state-not-answering")  # nothing on the port
        finally:
            static.stop()
            shamir.stop()


if __name__ == "__main__":
    main()
