#!/usr/bin/env bash
# Installs everything the project needs on a Debian 12 machine, as root: the Debian packages the
# lab and the tests use, and a virtualenv (.venv) holding the project and its Python dependencies.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: run as root (the lab boots systemd-nspawn hosts and manages a bridge)" >&2
    exit 1
fi

apt_packages=(systemd-container debootstrap iptables iproute2 openssh-client zstd python3-venv postgresql-15 age rclone
  systemd-journal-remote)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    python3 -m venv .venv
fi
echo "bootstrap: installing the project into .venv"
# nc-py-api needs niquests, which needs urllib3-future: its PyPI wheel ships a `urllib3`
# package and a .pth file that overwrites the real urllib3 at every interpreter start
# (requests, hvac and apprise would all run on the fork). Built from source with
# URLLIB3_NO_OVERRIDE it installs only `urllib3_future`, which niquests then uses.
export URLLIB3_NO_OVERRIDE=1
if ls .venv/lib/python3*/site-packages/urllib3_future.pth >/dev/null 2>&1; then
    echo "bootstrap: removing urllib3-future's override of urllib3"
    .venv/bin/pip uninstall --quiet -y urllib3-future
    rm -rf .venv/lib/python3*/site-packages/urllib3
    .venv/bin/pip install --quiet --disable-pip-version-check --force-reinstall --no-deps urllib3
fi
.venv/bin/pip install --quiet --disable-pip-version-check --no-binary urllib3-future -e '.[dev,aws]'
