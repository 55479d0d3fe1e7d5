"""Where the Vault role puts things on the host (one place, so the role, its facts, the agent's
defaults and the testinfra checks agree)."""

from appliance.secrets.settings import AGENT_ROLE_ID_FILE, AGENT_SECRET_ID_FILE, VAULT_CA_CERT
from roles.postgres.facts import MOVED_SUFFIX
from roles.postgres.facts import SECRETS_DIR as PG_SECRETS_DIR

UNIT = "vault.service"
USER = "vault"
CONFIG_DIR = "/etc/sovereign/vault"
SERVER_HCL = f"{CONFIG_DIR}/server.hcl"
TLS_DIR = f"{CONFIG_DIR}/tls"
CA_CERT = VAULT_CA_CERT  # the agent's default trusts it: one name for both sides
SERVER_CERT = f"{TLS_DIR}/server.crt"
SERVER_KEY = f"{TLS_DIR}/server.key"
SEAL_KEY = f"{CONFIG_DIR}/seal.key"
SEAL_ENV = f"{CONFIG_DIR}/seal.env"
AGENT_DIR = f"{CONFIG_DIR}/agent"
AGENT_ROLE_ID = AGENT_ROLE_ID_FILE
AGENT_SECRET_ID = AGENT_SECRET_ID_FILE
AGENT_ACCESSOR = f"{AGENT_DIR}/secret-id.accessor"
# The backup AppRole's credentials (root only): the raft snapshot timer logs in with them.
BACKUP_DIR = f"{CONFIG_DIR}/backup"
BACKUP_ROLE_ID = f"{BACKUP_DIR}/role-id"
BACKUP_ACCESSOR = f"{BACKUP_DIR}/secret-id.accessor"

__all__ = ["MOVED_SUFFIX", "PG_SECRETS_DIR"]
