"""An example inventory for your own hardware: copy it, fill in your hosts, then

    .venv/bin/sovereign artifacts fetch                  # binaries + the agent's wheelhouse
    .venv/bin/sovereign deploy inventory/mine.py --dry   # what would change
    .venv/bin/sovereign deploy inventory/mine.py
    .venv/bin/sovereign verify inventory/mine.py

Each host is (name, data). SSH settings use pyinfra's names (ssh_hostname, ssh_user, ssh_port,
ssh_key, ssh_known_hosts_file). Each role reads its own key and rejects unknown or invalid
fields, naming them, before anything changes on a host:

- base:     hostname, timezone, extra_packages, journal_max_use         (roles/base/settings.py)
- storage:  disks (of the default pool `tank`), pools, datasets         (roles/zfs/settings.py)
- postgres: listen_addresses, allowed_networks, roles, databases, …     (roles/postgres/settings.py)
- broker:   flavour (redpanda|tansu), redpanda_source (apt|artifact), topics, port,
            listen_address (default 127.0.0.1), peer_address (Redpanda with peers)
- vault:    flavour (openbao|hashicorp), seal (static|transit|shamir), operator_age_recipients
            (also what the agent's first admin token is encrypted to), controller_dir,
            key_shares/key_threshold, …  (roles/vault/settings.py, docs/vault.md)
- agent:    listen_address (default 127.0.0.1, behind the edge), port, config (any agent
            setting, appliance/config.py)
- edge:     port (443), http (redirect|off), http_port (80), listen_addresses, server_names,
            hsts_max_age_s, connect/read/client timeouts, upstream_keepalive
                                                                (roles/edge/settings.py)
- firewall: enabled, admin_networks (who may SSH in; unset: anywhere, with a warning; never
            empty), allow (more openings: port, protocol, sources, comment)
                                                                (roles/firewall/settings.py)
- pki:      controller_dir (the host's CA on the controller; default vault.controller_dir, else
            ~/.local/state/sovereign/appliance/HOST), extra_sans      (roles/pki/settings.py)
- peers:    IP addresses of the other appliance hosts: Vault's and Redpanda's peer ports open
            to them only, Redpanda's SASL/SCRAM-over-TLS listener for them
- zfs_backend: openzfs (default) or zfs-fuse; appliance_subnet: the CIDR allowed to reach
  PostgreSQL (over TLS); artifacts_dir: the artifact cache (default ./artifacts); ssh_port (22)
  is also the port the firewall opens for SSH.
"""

appliance = [
    (
        "nas1",
        {
            "ssh_hostname": "192.0.2.10",
            "ssh_user": "root",
            "appliance_subnet": "192.0.2.0/24",
            "base": {"timezone": "Europe/Berlin", "extra_packages": ["smartmontools"]},
            "zfs_backend": "openzfs",
            "storage": {
                "disks": [f"/dev/disk/by-id/ata-EXAMPLE_DISK_{n}" for n in range(1, 7)],
            },
            "postgres": {
                "roles": [{"name": "nextcloud"}],
                "databases": [{"name": "nextcloud", "owner": "nextcloud"}],
            },
            "broker": {"flavour": "redpanda", "redpanda_source": "apt"},
            # SSH only from the operators' network (and this controller's); the edge on 443.
            "firewall": {"admin_networks": ["192.0.2.0/24"]},
            "edge": {"server_names": ["nas1.example.org"]},
            "vault": {
                "flavour": "openbao",
                "seal": "static",
                # Your age public key (age-keygen -y key.txt): the init keys are encrypted to it.
                "operator_age_recipients": [
                    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
                ],
            },
        },
    ),
]
