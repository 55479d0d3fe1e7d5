"""The appliance deploy: composes the roles, in order, for every host of the inventory."""

from roles.agent import agent
from roles.base import base
from roles.broker import broker
from roles.postgres import postgres
from roles.zfs import zfs

base()
zfs()
postgres()
broker()
agent()
