"""Inventories: the hosts to deploy and their data (pyinfra loads these files)."""
