"""The base role's outcome: identity, time zone, packages, the service user, the journal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.expected import (
    APPLIANCE_CA,
    CONFIG_DIR,
    JOURNALD_DROPIN,
    SERVICE_USER,
    Base,
    HostData,
)


@pytest.fixture(scope="module")
def base(host_data: HostData, host_name: str) -> Base:
    return Base.of(host_data, host_name)


def test_hostname(host: Any, base: Base) -> None:
    assert host.check_output("hostname") == base.hostname


def test_timezone(host: Any, base: Base) -> None:
    resolved = host.check_output("readlink -e /etc/localtime")
    assert resolved == host.check_output(f"readlink -e /usr/share/zoneinfo/{base.timezone}")


def test_package_installed(host: Any, package: str) -> None:
    assert host.package(package).is_installed


def test_service_user_is_a_system_account_without_login(host: Any) -> None:
    user = host.user(SERVICE_USER)
    assert user.exists
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == SERVICE_USER


def test_config_dir_readable_by_service_group_only(host: Any) -> None:
    conf = host.file(CONFIG_DIR)
    assert conf.is_directory
    assert (conf.user, conf.group, conf.mode) == ("root", SERVICE_USER, 0o751)


def test_journal_is_persistent_and_bounded(host: Any, base: Base) -> None:
    conf = host.file(JOURNALD_DROPIN)
    assert conf.contains("^Storage=persistent$")
    assert conf.contains(f"^SystemMaxUse={base.journal_max_use}$")
    machine_id = host.file("/etc/machine-id").content_string.strip()
    # journald writes here only when storage is persistent and the config took effect.
    assert host.file(f"/var/log/journal/{machine_id}").is_directory


@pytest.mark.journal("systemd-journald")
def test_journald_running(host: Any) -> None:
    assert host.service("systemd-journald").is_running


def test_appliance_ca_certificate_without_its_key(host: Any) -> None:
    """The appliance CA's certificate for every local client; its key stays on the controller."""
    ca = host.file(APPLIANCE_CA)
    assert (ca.user, ca.group, ca.mode) == ("root", "root", 0o644)
    assert ca.contains("BEGIN CERTIFICATE")
    assert not ca.contains("PRIVATE KEY")
    keys = host.check_output(f"grep -l 'PRIVATE KEY' {APPLIANCE_CA.rsplit('/', 1)[0]}/* || true")
    assert "ca.key" not in keys
