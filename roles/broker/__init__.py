"""Broker role: the appliance's event bus on the Kafka API (Redpanda, or Tansu where it is not).

Tansu comes from the verified artifact cache; Redpanda from its vendor apt repository or, on
air-gapped hosts, from a `redpanda.deb` artifact the operator registered.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from roles.artifacts import artifact_path
from roles.broker.settings import BrokerSettings, resolve_listen_address

if TYPE_CHECKING:
    from roles.spec import HostSpec

HERE = Path(__file__).parent
TOPICS_SCRIPT = "/usr/local/lib/sovereign/broker-topics"


def unit_name(cfg: BrokerSettings) -> str:
    return f"{cfg.flavour}.service"


@deploy("Event broker")
def broker(spec: HostSpec) -> None:
    cfg = spec.broker
    address = resolve_listen_address(cfg, spec.ssh_hostname)  # checked by the spec
    template_args: dict[str, Any] = {"address": address, "port": cfg.port, "flavour": cfg.flavour,
                     "topics": cfg.topics}  # fmt: skip

    if cfg.flavour == "tansu":
        binary = files.put(
            name="Install the tansu broker (verified artifact)",
            src=artifact_path(spec, "tansu"),
            dest="/usr/local/bin/tansu",
            mode="755",
        )
        unit = files.template(
            name="Install the tansu unit",
            src=str(HERE / "tansu.service.j2"),
            dest="/etc/systemd/system/tansu.service",
            **template_args,
        )
        changed = any_changed(binary, unit)
    else:
        changed = _install_redpanda(spec, address)

    topics_script = files.template(
        name="Install the topic declaration script",
        src=str(HERE / "broker-topics.sh.j2"),
        dest=TOPICS_SCRIPT,
        mode="755",
        create_remote_dir=True,
        **template_args,
    )
    systemd.daemon_reload(name="Reload systemd units", _if=changed)
    start = systemd.service(
        name=f"Run {unit_name(cfg)}", service=unit_name(cfg), running=True, enabled=True
    )
    systemd.service(
        name=f"Restart {unit_name(cfg)} for its new binary or config",
        service=unit_name(cfg),
        restarted=True,
        _if=lambda: changed() and not start.did_change(),
    )
    server.shell(
        name="Create declared topics that are missing",
        commands=[TOPICS_SCRIPT],
        _if=lambda: topics_script.did_change() and not start.did_change(),
    )


def _install_redpanda(spec: HostSpec, address: str) -> Callable[[], bool]:
    """Install and configure Redpanda; returns whether it must restart (after execution).

    Not exercisable on the lab (vendor unreachable, no .deb there). The config is a template,
    so a second deploy changes nothing.
    """
    cfg = spec.broker
    if cfg.redpanda_source == "artifact":
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
    else:
        apt.packages(name="Install redpanda (vendor apt repository)", packages=["redpanda"])
    conf = files.template(
        name="Configure redpanda",
        src=str(HERE / "redpanda.yaml.j2"),
        dest="/etc/redpanda/redpanda.yaml",
        address=address,
        port=cfg.port,
        data_dir=cfg.redpanda_data_dir,
    )
    return any_changed(conf)
