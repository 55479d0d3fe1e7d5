"""The appliance deploy: composes the roles, in order, for every host of the inventory.

The vault role runs for hosts whose inventory data has a `vault` key."""

from pyinfra import host

from roles.agent import agent
from roles.base import base
from roles.broker import broker
from roles.postgres import postgres
from roles.vault import vault
from roles.zfs import zfs

base()
zfs()
postgres()
if host.data.get("vault") is not None:
    vault()  # after postgres: moves its generated passwords in
broker()
agent()
