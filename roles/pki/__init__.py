"""The appliance CA on the host: its certificate at /etc/sovereign/tls/ca.crt for every local
client, and the helper the edge, PostgreSQL and Vault roles issue their certificates with.

The CA itself (controller/pki.py) is made and kept on the controller, one per host; its key
never leaves the controller.

Stages: configure (the CA certificate on the host); no install, nothing to activate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta

from controller.pki import TlsFiles, ensure_ca, ensure_certificate
from roles.common import ops as common
from roles.pki.settings import controller_dir, service_names

if TYPE_CHECKING:
    from roles.spec import HostSpec

TLS_DIR = "/etc/sovereign/tls"
CA_CERT = f"{TLS_DIR}/ca.crt"


@deploy("Appliance CA")
def pki(spec: HostSpec) -> None:
    configure(spec)


def configure(spec: HostSpec) -> OperationMeta:
    ca = ensure_ca(controller_dir(spec), spec.name)
    common.directory(name=f"Create {TLS_DIR}", path=TLS_DIR, user="root", group="root",
                    mode="755")  # fmt: skip
    return common.put(name="Install the appliance CA certificate (clients trust it)",
                      src=str(ca), dest=CA_CERT, mode="644")  # fmt: skip


def certificate(spec: HostSpec, name: str, extra: list[str] | None = None) -> TlsFiles:
    """The service certificate `name` from the host's CA, for the host's names and `extra`
    (issued again only when its names, its expiry or the CA call for it)."""
    dns, ips = service_names(spec, extra)
    files_, _ = ensure_certificate(controller_dir(spec), spec.name, name, dns, ips)
    return files_
