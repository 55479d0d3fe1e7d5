"""The appliance deploy: composes the roles, in order, for every host of the inventory.

Each host's inventory data is validated once into its HostSpec, which every role reads. The
vault role runs for hosts whose spec has `vault` settings, the firewall unless it is disabled."""

from roles.agent import agent
from roles.base import base
from roles.broker import broker
from roles.connection import send_without_delay
from roles.edge import edge
from roles.firewall import firewall
from roles.mail import mail
from roles.pgbackrest import pgbackrest, pgbackrest_repository
from roles.pki import pki
from roles.postgres import postgres
from roles.replication import replication
from roles.snapshots import snapshots
from roles.spec import current_host_spec
from roles.vault import vault
from roles.vault.backup import vault_backups
from roles.zfs import zfs

send_without_delay()  # ~50 ms less per remote command
spec = current_host_spec()
base(spec=spec)
if spec.firewall.enabled:
    firewall(spec=spec)  # early: the services below come up behind it
pki(spec=spec)
zfs(spec=spec)
pgbackrest_repository(spec=spec)  # before postgres: its archive_command writes there
postgres(spec=spec)
if spec.vault is not None:
    vault(spec=spec)  # after postgres: moves its generated passwords in
broker(spec=spec)
if spec.mail.enabled:
    mail(spec=spec)  # before the agent: its `email` channel sends through it
agent(spec=spec)
snapshots(spec=spec)  # after the agent: its runner is the agent's code
replication(spec=spec)  # after snapshots: it sends them (and receives for its sources)
pgbackrest(spec=spec)  # after the agent (its runner) and postgres (the stanza, a first backup)
if spec.vault is not None:
    vault_backups(spec=spec)  # after the agent: its snapshot runner is the agent's code
edge(spec=spec)
