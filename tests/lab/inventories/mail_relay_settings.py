"""What the relay lab test and its inventory (tests/lab/inventories/mail_relay.py) share."""

#: Where the stand-in smarthost listens on the controller (the lab bridge's address).
RELAY_PORT = 2587
RELAY_USER = "appliance-relay"
