"""Broker role: the appliance's event bus on the Kafka API (Redpanda, or Tansu where it is not).

Tansu comes from the verified artifact cache; Redpanda from its vendor apt repository or, on
air-gapped hosts, from a `redpanda.deb` artifact the operator registered.

Stages: install (binary or package) → configure (unit or redpanda.yaml, the topic script) →
activate (run it, restart only for what changed, create missing topics).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.artifacts import artifact_path, install_binary
from roles.broker.settings import BrokerSettings, resolve_listen_address, resolve_peer_address
from roles.common import ops as common
from roles.pki import CA_CERT, TLS_DIR, certificate

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
TOPICS_SCRIPT = "/usr/local/lib/sovereign/broker-topics"
REDPANDA_RPC_PORT = 33145
REDPANDA_SUPERUSER = "sovereign-admin"
BROKER_CERT = f"{TLS_DIR}/broker.crt"
BROKER_KEY = f"{TLS_DIR}/broker.key"


def unit_name(cfg: BrokerSettings) -> str:
    return f"{cfg.flavour}.service"


@deploy("Event broker")
def broker(spec: HostSpec) -> None:
    installed = install(spec)
    activate(spec, installed, configure(spec))


def _template_args(spec: HostSpec) -> dict[str, Any]:
    """What the templates are rendered with (pure). Peers only for Redpanda (the spec refuses
    peers with Tansu): their listener's address, the certificate's paths."""
    cfg = spec.broker
    address = resolve_listen_address(cfg, spec.ssh_hostname)  # checked by the spec
    peers = spec.peers if cfg.flavour == "redpanda" else []
    return {
        "address": address, "port": cfg.port, "flavour": cfg.flavour, "topics": cfg.topics,
        "peers": peers,
        "peer_address": resolve_peer_address(cfg, spec.ssh_hostname) if peers else None,
        "rpc_port": REDPANDA_RPC_PORT, "cert": BROKER_CERT, "key": BROKER_KEY, "ca": CA_CERT,
        "data_dir": cfg.redpanda_data_dir, "superuser": REDPANDA_SUPERUSER,
    }  # fmt: skip


def install(spec: HostSpec) -> Callable[[], bool]:
    """The broker's binary or package; returns whether it changed (after execution)."""
    if spec.broker.flavour == "tansu":
        return install_binary(spec, "tansu", "the tansu broker", "/usr/local/bin/tansu").did_change
    return _install_redpanda(spec)


@dataclass(frozen=True)
class Configured:
    service: Callable[[], bool]  # unit or broker config: reload units, restart
    topics: Callable[[], bool]  # the declared topic list


def configure(spec: HostSpec) -> Configured:
    args = _template_args(spec)
    if spec.broker.flavour == "tansu":
        service = common.template(
            name="Install the tansu unit",
            src=str(HERE / "tansu.service.j2"),
            dest="/etc/systemd/system/tansu.service",
            **args,
        ).did_change
    else:
        service = _configure_redpanda(spec)
    topics = common.template(
        name="Install the topic declaration script",
        src=str(HERE / "broker-topics.sh.j2"),
        dest=TOPICS_SCRIPT,
        mode="755",
        **args,
    )
    return Configured(service=service, topics=topics.did_change)


def activate(spec: HostSpec, installed: Callable[[], bool], configured: Configured) -> None:
    """Run the broker; restart it only for a new binary or config; create missing topics when
    their list changed (the unit creates them at every start too)."""
    unit = unit_name(spec.broker)

    def changed() -> bool:
        return installed() or configured.service()

    systemd.daemon_reload(name="Reload systemd units", _if=changed)
    start = common.service(name=f"Run {unit}", unit=unit)
    systemd.service(
        name=f"Restart {unit} for its new binary or config",
        service=unit,
        restarted=True,
        _if=lambda: changed() and not start.did_change(),
    )
    server.shell(
        name="Create declared topics that are missing",
        commands=[TOPICS_SCRIPT],
        _if=lambda: configured.topics() and not start.did_change(),
    )


def _install_redpanda(spec: HostSpec) -> Callable[[], bool]:
    """Install Redpanda; returns whether it changed (after execution).

    Not exercisable on the lab (vendor unreachable, no .deb there).
    """
    if spec.broker.redpanda_source == "artifact":
        deb = files.put(
            name="Upload the redpanda package (verified artifact)",
            src=artifact_path(spec, "redpanda.deb"),
            dest="/var/cache/sovereign/redpanda.deb",
            create_remote_dir=True,
        )
        apt.deb(
            name="Install redpanda from the artifact",
            src="/var/cache/sovereign/redpanda.deb",
            _if=deb.did_change,
        )
        return deb.did_change
    return apt.packages(
        name="Install redpanda (vendor apt repository)", packages=["redpanda"]
    ).did_change


def _configure_redpanda(spec: HostSpec) -> Callable[[], bool]:
    """redpanda.yaml from a template, so a second deploy changes nothing; with peers, the
    certificate of their TLS listener and the cluster's SASL properties too.

    Not exercisable on the lab (no Redpanda there); the templates are tested rendered.
    """
    args = _template_args(spec)
    config = common.template(name="Configure redpanda", src=str(HERE / "redpanda.yaml.j2"),
                             dest="/etc/redpanda/redpanda.yaml", **args)  # fmt: skip
    changed = [config]
    if args["peers"]:
        tls = certificate(spec, "broker", [args["peer_address"]])
        changed += [
            common.put(name="Install the broker's certificate (peers' TLS listener)",
                       src=str(tls.server_cert), dest=BROKER_CERT, mode="644"),
            common.put(name="Install the broker's key", src=str(tls.server_key),
                       dest=BROKER_KEY, user="redpanda", group="redpanda", mode="600"),
            common.template(name="Declare SASL/SCRAM for the peers (cluster bootstrap)",
                            src=str(HERE / "bootstrap.yaml.j2"),
                            dest="/etc/redpanda/.bootstrap.yaml", **args),
        ]  # fmt: skip
    return any_changed(*changed)
