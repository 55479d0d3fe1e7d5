"""What the relay lab test and its inventory (tests/lab/inventories/mail_relay.py) share."""

from pathlib import Path

from sovereign.lab.state import LabPaths

#: Where the stand-in smarthost listens on the controller (the lab bridge's address), and the
#: name the lab host knows it by (an /etc/hosts line the test writes): its certificate is
#: checked against that name.
RELAY_PORT = 2587
RELAY_NAME = "relay.lab.test"
RELAY_USER = "appliance-relay"


def relay_ca_file(lab: str) -> Path:
    """The test CA that signs the stand-in's certificate (the test writes it before deploying)."""
    return LabPaths(lab).dir / "relay-ca.pem"
