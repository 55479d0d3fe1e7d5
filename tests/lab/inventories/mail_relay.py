"""The lab with postfix relaying through a smarthost with SASL and TLS (mail.relayhost +
mail.relay_user): the relay is the test's stand-in on the controller, at the lab bridge's
address under the name relay.lab.test, its certificate from a test CA the inventory names
(mail.relay_ca_file) and checks (tests/lab/test_notify_relay.py); no capture, so mail leaves
the host for it."""

from sovereign.lab.inventory import current_lab_name, lab_hosts
from tests.lab.inventories.mail_relay_settings import (
    RELAY_NAME,
    RELAY_PORT,
    RELAY_USER,
    relay_ca_file,
)

_mail = {
    "relayhost": f"[{RELAY_NAME}]:{RELAY_PORT}",
    "relay_user": RELAY_USER,
    "relay_ca_file": str(relay_ca_file(current_lab_name())),
}

lab = [
    (
        name,
        {
            **data,
            "mail": _mail,
        },
    )
    for name, data in lab_hosts()
]
