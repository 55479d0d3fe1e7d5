"""The base role's observable outcome on a host."""

from __future__ import annotations

from typing import Any

import pytest

from roles.base.settings import ESSENTIAL_PACKAGES, BaseSettings


def _base(host_data: dict[str, Any]) -> BaseSettings:
    return BaseSettings.model_validate(host_data.get("base") or {})


def test_hostname(host: Any, host_data: dict[str, Any], host_name: str) -> None:
    expected = _base(host_data).hostname or host_name
    assert host.check_output("hostname") == expected


def test_timezone(host: Any, host_data: dict[str, Any]) -> None:
    zone = _base(host_data).timezone
    resolved = host.check_output("readlink -e /etc/localtime")
    assert resolved == host.check_output(f"readlink -e /usr/share/zoneinfo/{zone}")


@pytest.mark.parametrize("package", ESSENTIAL_PACKAGES)
def test_essential_package_installed(host: Any, package: str) -> None:
    assert host.package(package).is_installed


def test_service_user_is_a_system_account_without_login(host: Any) -> None:
    user = host.user("sovereign")
    assert user.exists
    assert user.uid < 1000
    assert user.shell == "/usr/sbin/nologin"
    assert user.group == "sovereign"


def test_config_dir_readable_by_service_group_only(host: Any) -> None:
    conf = host.file("/etc/sovereign")
    assert conf.is_directory
    assert (conf.user, conf.group, conf.mode) == ("root", "sovereign", 0o751)


def test_journal_is_persistent(host: Any) -> None:
    conf = host.file("/etc/systemd/journald.conf.d/50-sovereign.conf")
    assert conf.contains("^Storage=persistent$")
    machine_id = host.file("/etc/machine-id").content_string.strip()
    # journald writes here only when storage is persistent and the config took effect.
    assert host.file(f"/var/log/journal/{machine_id}").is_directory


def test_journald_running(host: Any) -> None:
    assert host.service("systemd-journald").is_running
