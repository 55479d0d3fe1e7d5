"""The lab with postfix relaying through a smarthost with SASL and TLS (mail.relayhost +
mail.relay_user): the relay is the test's stand-in on the controller, at the lab bridge's
address (tests/lab/test_notify_relay.py); no capture, so mail leaves the host for it."""

from sovereign.lab.inventory import current_lab_name, lab_hosts
from sovereign.lab.state import load_state
from tests.lab.inventories.mail_relay_settings import RELAY_PORT, RELAY_USER

_state = load_state(current_lab_name())
_gateway = _state.gateway if _state else "10.99.0.1"

lab = [
    (
        name,
        {
            **data,
            "mail": {"relayhost": f"[{_gateway}]:{RELAY_PORT}", "relay_user": RELAY_USER},
        },
    )
    for name, data in lab_hosts()
]
