"""An example inventory for your own hardware: copy it, fill in your hosts, then

    .venv/bin/sovereign deploy inventory/mine.py --dry   # what would change
    .venv/bin/sovereign deploy inventory/mine.py
    .venv/bin/sovereign verify inventory/mine.py

Each host is (name, data). SSH settings use pyinfra's names (ssh_hostname, ssh_user, ssh_port,
ssh_key, ssh_known_hosts_file); each role reads its own key (`base`, …) and rejects unknown or
invalid fields before anything changes on a host.
"""

appliance = [
    (
        "nas1",
        {
            "ssh_hostname": "192.0.2.10",
            "ssh_user": "root",
            "base": {"timezone": "Europe/Berlin", "extra_packages": ["smartmontools"]},
        },
    ),
]
