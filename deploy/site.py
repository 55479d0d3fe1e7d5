"""The appliance deploy: composes the roles, in order, for every host of the inventory."""

from roles.base import base
from roles.broker import broker

base()
broker()
