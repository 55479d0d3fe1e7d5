"""The appliance's systemd units and containers."""
