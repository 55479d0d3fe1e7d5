"""The appliance deploy: composes the roles, in order, for every host of the inventory.

Each host's inventory data is validated once into its HostSpec, which every role reads. The
vault role runs for hosts whose spec has `vault` settings, the firewall unless it is disabled,
Nextcloud where the inventory has a `nextcloud` section. A plain backup host (`kind =
"backup"`) gets only what receiving replicas needs (deploy/stages.BACKUP_HOST_STAGES): the
base, a firewall opening SSH only, its pools and POOL/replicas, the replication role's
receiving side.
With SOVEREIGN_DEPLOY_UNTIL=STAGE only the stages up to STAGE run (deploy/stages.py); each call
below stays on a line of its own: pyinfra orders operations by the lines of their callers."""

import os

from deploy.stages import UNTIL_ENV, stages_for
from roles.agent import agent
from roles.base import base
from roles.broker import broker
from roles.connection import send_without_delay
from roles.edge import edge
from roles.firewall import firewall
from roles.mail import mail
from roles.nextcloud import nextcloud
from roles.pgbackrest import pgbackrest, pgbackrest_repository
from roles.pki import pki
from roles.postgres import install as postgres_install
from roles.postgres import postgres
from roles.replication import receiving_firewall, replication
from roles.snapshots import snapshots
from roles.spec import current_host_spec
from roles.vault import vault
from roles.vault.backup import vault_backups
from roles.zfs import install as zfs_backend
from roles.zfs import ops as zfs_ops
from roles.zfs import zfs

send_without_delay()  # ~50 ms less per remote command
spec = current_host_spec()
run = set(stages_for(spec.kind, os.environ.get(UNTIL_ENV)))
if "base" in run:
    base(spec=spec)
if "firewall" in run and spec.firewall.enabled and spec.kind == "backup":
    receiving_firewall(spec=spec)  # SSH (and firewall.allow) only
elif "firewall" in run and spec.firewall.enabled:
    firewall(spec=spec)  # early: the services below come up behind it
if "pki" in run:
    pki(spec=spec)
if "zfs-pools" in run:  # a rebuild's first step: pools only, it receives the datasets
    zfs_backend(spec)
    for pool in spec.storage.pools:
        zfs_ops.pool(name=f"ZFS pool {pool.name}", spec=pool, backend=spec.zfs_backend)
if "zfs" in run:
    zfs(spec=spec)
if "pgbackrest-repository" in run:
    pgbackrest_repository(spec=spec)  # before postgres: its archive_command writes there
if "postgres-install" in run:  # a rebuild restores the cluster before the role makes one
    postgres_install(spec)
if "postgres" in run:
    postgres(spec=spec)
if "vault" in run and spec.vault is not None:
    vault(spec=spec)  # after postgres: moves its generated passwords in
if "broker" in run:
    broker(spec=spec)
if "mail" in run and spec.mail.enabled:
    mail(spec=spec)  # before the agent: its `email` channel sends through it
if "agent" in run:
    agent(spec=spec)
if "snapshots" in run:
    snapshots(spec=spec)  # after the agent: its runner is the agent's code
if "replication" in run:
    replication(spec=spec)  # after snapshots: it sends them (and receives for its sources)
if "pgbackrest" in run:
    pgbackrest(spec=spec)  # after the agent (its runner) and postgres (the stanza, a first backup)
if "vault-backups" in run and spec.vault is not None:
    vault_backups(spec=spec)  # after the agent: its snapshot runner is the agent's code
if "edge" in run:
    edge(spec=spec)
if "nextcloud" in run and spec.nextcloud is not None:
    nextcloud(spec=spec)  # after the edge: the edge's nginx serves the vhost it proxies to
