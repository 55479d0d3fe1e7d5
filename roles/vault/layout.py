"""Where the Vault role puts things on the host (one place, so the role, its facts, the agent's
defaults and the testinfra checks agree)."""

from roles.postgres.facts import MOVED_SUFFIX
from roles.postgres.facts import SECRETS_DIR as PG_SECRETS_DIR

UNIT = "vault.service"
USER = "vault"
CONFIG_DIR = "/etc/sovereign/vault"
SERVER_HCL = f"{CONFIG_DIR}/server.hcl"
TLS_DIR = f"{CONFIG_DIR}/tls"
CA_CERT = f"{TLS_DIR}/ca.crt"
SERVER_CERT = f"{TLS_DIR}/server.crt"
SERVER_KEY = f"{TLS_DIR}/server.key"
SEAL_KEY = f"{CONFIG_DIR}/seal.key"
SEAL_ENV = f"{CONFIG_DIR}/seal.env"
AGENT_DIR = f"{CONFIG_DIR}/agent"
AGENT_ROLE_ID = f"{AGENT_DIR}/role-id"
AGENT_SECRET_ID = f"{AGENT_DIR}/secret-id"
AGENT_ACCESSOR = f"{AGENT_DIR}/secret-id.accessor"

__all__ = ["MOVED_SUFFIX", "PG_SECRETS_DIR"]
