"""Disposable lab hosts: Debian bookworm booted with systemd-nspawn on a project bridge."""
