"""Vault role: OpenBao (from the artifact cache) or HashiCorp Vault, raft storage on the
tank/vault dataset, a TLS-only listener with a CA the deploy makes and keeps on the controller,
a file audit device, auto-unseal (static key or transit) or manual unseal, and the appliance's
engines, policies and AppRoles as code. See docs/vault.md for the operator's side.

Stages: install (binary, user, logrotate) → configure (TLS, seal material, server.hcl, unit) →
activate (run it, restart for a new binary or configuration, reload for new certificates, then
initialise once and converge Vault's own configuration).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.server import LinuxDistribution
from pyinfra.operations import apt, systemd
from pyinfra.operations.util import any_changed

from controller.pki import ensure_tls
from roles.artifacts import install_binary
from roles.common import ops as common
from roles.pki.settings import controller_dir as pki_dir
from roles.settings import RoleSettingsError
from roles.vault import ops
from roles.vault.layout import (
    CA_CERT,
    CONFIG_DIR,
    SEAL_ENV,
    SEAL_KEY,
    SERVER_CERT,
    SERVER_HCL,
    SERVER_KEY,
    TLS_DIR,
    UNIT,
    USER,
)  # fmt: skip
from roles.vault.settings import (
    ANY_ADDRESS,
    VaultServerSettings,
    certificate_names,
    controller_dir,
    host_port,
    listeners,
    resolve_listen_address,
)

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
HASHICORP_KEY_URL = "https://apt.releases.hashicorp.com/gpg"
HASHICORP_REPO = "https://apt.releases.hashicorp.com"


def binary_path(cfg: VaultServerSettings) -> str:
    if cfg.flavour == "openbao":
        return "/usr/local/bin/bao"
    return "/usr/local/bin/vault" if cfg.hashicorp_source == "artifact" else "/usr/bin/vault"


def transit_token(cfg: VaultServerSettings, host_name: str) -> str:
    """The transit seal's token, from the controller's environment (never the inventory)."""
    assert cfg.transit is not None
    token = os.environ.get(cfg.transit.token_env)
    if not token:
        raise RoleSettingsError(
            f"host {host_name}: vault.seal is 'transit' but ${cfg.transit.token_env} is not set "
            "on the controller (the token the seal uses on the other Vault)"
        )
    return token


def mlock_setting(cfg: VaultServerSettings) -> str | None:
    """disable_mlock for the HCL: OpenBao has no mlock at all (the key is unknown to it)."""
    if cfg.flavour == "openbao":
        return None
    return "false" if cfg.mlock else "true"


def render_args(
    cfg: VaultServerSettings,
    address: str,
    node_id: str,
    binary: str,
    paths: dict[str, str] | None = None,
    peers: list[str] | None = None,
) -> dict[str, Any]:
    """What the server config, unit and logrotate templates are rendered with (pure).

    `paths` moves the host-side files (tests run a real server from a temporary directory).
    The cluster port listens on loopback unless `peers` are declared (then on the API's
    address, and the firewall opens it to them only).
    """
    where = {
        "server_cert": SERVER_CERT, "server_key": SERVER_KEY, "seal_key": SEAL_KEY,
        "seal_env": SEAL_ENV, "config": SERVER_HCL, "transit_ca": f"{TLS_DIR}/transit-ca.crt",
        **(paths or {}),
    }  # fmt: skip
    api_host = address if address != ANY_ADDRESS else "127.0.0.1"
    bound = listeners(address)
    cluster_host = api_host if peers else "127.0.0.1"
    return {
        **where,
        "flavour": cfg.flavour, "port": cfg.port, "cluster_port": cfg.cluster_port,
        "api_addr": f"https://{host_port(api_host, cfg.port)}",
        "cluster_addr": f"https://{host_port(cluster_host, cfg.cluster_port)}",
        "listen": [host_port(a, cfg.port) for a in bound],
        "cluster_listen": host_port(bound[0] if peers else "127.0.0.1", cfg.cluster_port),
        "data_dir": cfg.data_dir, "node_id": node_id, "seal": cfg.seal,
        "transit": cfg.transit,
        "transit_ca": where["transit_ca"] if cfg.transit and cfg.transit.ca_cert else "",
        "audit_log": cfg.audit_log, "audit_dir": str(Path(cfg.audit_log).parent),
        "mlock": cfg.mlock, "mlock_setting": mlock_setting(cfg), "binary": binary,
        "service_user": USER, "unit": UNIT, "data_is_dataset": cfg.data_is_dataset,
    }  # fmt: skip


@deploy("Vault")
def vault(spec: HostSpec) -> None:
    cfg = spec.vault
    assert cfg is not None, "deploy/site.py runs the vault role only for hosts with `vault`"
    binary = binary_path(cfg)
    installed = install(spec, binary)
    activate(spec, binary, installed, configure(spec, binary))


def install(spec: HostSpec, binary: str) -> OperationMeta:
    """The server binary, its user, and logrotate (for the audit log)."""
    cfg = spec.vault
    assert cfg is not None
    installed = _install(spec, binary)
    common.system_user(name=f"Create the {USER} system user and group", user=USER, group=USER,
                       home=cfg.data_dir, shell="/usr/sbin/nologin")  # fmt: skip
    common.packages(name="Install logrotate", packages=["logrotate"])
    return installed


@dataclass(frozen=True)
class Configured:
    """What configure changed: a restart for the server's configuration, unit or seal, a reload
    (SIGHUP) for new TLS material."""

    restart: list[OperationMeta]
    unit: OperationMeta
    tls: list[OperationMeta]
    controller_dir: Path
    ca_cert: Path


def configure(spec: HostSpec, binary: str) -> Configured:
    """TLS from the controller's CA, directories, the seal's material, server.hcl, the unit."""
    cfg = spec.vault
    assert cfg is not None
    address = resolve_listen_address(cfg, spec.ssh_hostname)  # checked by the spec
    local_dir = controller_dir(cfg, spec.name)
    dns, ips = certificate_names(cfg, address, spec.name, spec.ssh_hostname)
    tls, _ = ensure_tls(pki_dir(spec), spec.name, dns, ips)  # the appliance CA (one per host)
    common.directory(name=f"Create {CONFIG_DIR}", path=CONFIG_DIR, user="root", group="root",
                    mode="755")  # fmt: skip
    common.directory(name=f"Create {TLS_DIR}", path=TLS_DIR, user="root", group="root", mode="755")
    ca = common.put(name="Install the Vault CA certificate (clients trust it)",
                    src=str(tls.ca_cert), dest=CA_CERT, mode="644")  # fmt: skip
    cert = common.put(name="Install the Vault server certificate", src=str(tls.server_cert),
                      dest=SERVER_CERT, mode="644")  # fmt: skip
    key = common.put(name="Install the Vault server key", src=str(tls.server_key),
                     dest=SERVER_KEY, user="root", group=USER, mode="640")  # fmt: skip
    common.directory(name=f"Give {cfg.data_dir} (the vault dataset) to {USER}",
                    path=cfg.data_dir, user=USER, group=USER, mode="700")  # fmt: skip
    audit_dir = str(Path(cfg.audit_log).parent)
    common.directory(name=f"Create {audit_dir} (audit log)", path=audit_dir, user=USER,
                    group=USER, mode="700")  # fmt: skip
    seal_changed = _seal(spec, binary)
    template_args = render_args(cfg, address, spec.name, binary, peers=spec.peers)
    conf = common.template(name="Render the server configuration",
                           src=str(HERE / "server.hcl.j2"), dest=SERVER_HCL, user="root",
                           group=USER, mode="640", **template_args)  # fmt: skip
    unit = common.template(name=f"Install {UNIT}", src=str(HERE / "vault.service.j2"),
                           dest=f"/etc/systemd/system/{UNIT}", **template_args)  # fmt: skip
    common.template(name="Rotate the audit log", src=str(HERE / "logrotate.j2"),
                    dest="/etc/logrotate.d/sovereign-vault", **template_args)  # fmt: skip
    return Configured(
        restart=[conf, unit, *seal_changed], unit=unit, tls=[ca, cert, key],
        controller_dir=local_dir, ca_cert=tls.ca_cert,
    )  # fmt: skip


def activate(spec: HostSpec, binary: str, installed: OperationMeta, configured: Configured) -> None:
    """Run Vault, restart or reload it only for what changed, then initialise it (once) and
    configure its engines, policies and AppRoles as code."""
    cfg = spec.vault
    assert cfg is not None
    systemd.daemon_reload(name="Reload systemd units", _if=configured.unit.did_change)
    start = common.service(name=f"Run {UNIT}", unit=UNIT)
    restart = any_changed(installed, *configured.restart)
    tls_changed = any_changed(*configured.tls)
    systemd.service(
        name=f"Restart {UNIT} for its new binary or configuration",
        service=UNIT,
        restarted=True,
        _if=lambda: restart() and not start.did_change(),
    )
    systemd.service(
        name=f"Reload {UNIT} for its new certificate",
        service=UNIT,
        reloaded=True,
        _if=lambda: tls_changed() and not (restart() or start.did_change()),
    )
    ops.configure(
        name="Initialise and configure Vault (engines, policies, AppRoles, credentials)",
        binary=binary, port=cfg.port, kv_mount=cfg.kv_mount, transit_mount=cfg.transit_mount,
        automatic_unseal=cfg.unseal_automatic, key_shares=cfg.key_shares,
        key_threshold=cfg.key_threshold, controller_dir=str(configured.controller_dir),
        ca_cert=str(configured.ca_cert), age_recipients=cfg.operator_age_recipients,
    )  # fmt: skip


def _install(spec: HostSpec, binary: str) -> OperationMeta:
    cfg = spec.vault
    assert cfg is not None
    if cfg.flavour == "openbao" or cfg.hashicorp_source == "artifact":
        openbao = cfg.flavour == "openbao"
        name, what = ("bao", "OpenBao") if openbao else ("vault", "HashiCorp Vault")
        return install_binary(spec, name, what, binary)
    # Not exercisable here (vendor unreachable): the vendor's documented apt setup.
    apt.key(name="Trust HashiCorp's apt key", src=HASHICORP_KEY_URL)
    codename = host.get_fact(LinuxDistribution)["release_meta"].get("CODENAME", "bookworm")
    apt.repo(name="Add HashiCorp's apt repository", src=f"deb {HASHICORP_REPO} {codename} main")
    return apt.packages(name="Install HashiCorp Vault (vendor apt repository)",
                        packages=["vault"], update=True)  # fmt: skip


def _seal(spec: HostSpec, binary: str) -> list[OperationMeta]:
    """The auto-unseal material on the host; what changed of it needs a restart."""
    cfg = spec.vault
    assert cfg is not None
    if cfg.seal == "static":
        return [ops.seal_key(name="Generate the static seal key (stays on the host)",
                             data_dir=cfg.data_dir)]  # fmt: skip
    if cfg.seal == "transit":
        assert cfg.transit is not None
        token = transit_token(cfg, spec.name)
        changed = [
            common.put(
                name="Give the transit seal its token (root-only environment file)",
                src=StringIO(f"VAULT_TOKEN={token}\nBAO_TOKEN={token}\n"),
                dest=SEAL_ENV,
                user="root",
                group="root",
                mode="600",
            )
        ]
        if cfg.transit.ca_cert:
            changed.append(common.put(name="Install the transit seal's CA certificate",
                                      src=cfg.transit.ca_cert, dest=f"{TLS_DIR}/transit-ca.crt",
                                      mode="644"))  # fmt: skip
        return changed
    return []
