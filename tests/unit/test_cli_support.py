"""Deploy output parsing, inventory → ssh_config, prerequisite messages, role settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.errors import PrerequisiteError
from roles.base.settings import BaseRoleSettings
from roles.settings import RoleSettingsError, parse_settings
from sovereign.inventory import InventoryHost, render_ssh_config
from sovereign.prereq import require_tools
from sovereign.runner import DeployResult, failed_units, parse_pyinfra_output

FIXTURES = Path(__file__).parent / "fixtures"


def test_parse_pyinfra_output_pairs_ops_with_results() -> None:
    results = parse_pyinfra_output((FIXTURES / "pyinfra-deploy-output.txt").read_text())
    assert len(results) == 10
    assert results[0] == ("lab-1", "Base system | Set the host name", "No changes")
    assert results[1] == ("lab-1", "Base system | Install essential packages", "Success")


def test_parse_pyinfra_output_strips_colour() -> None:
    text = "--> Starting operation: X | y \n    [h1] \x1b[32mSuccess\x1b[0m\n"
    assert parse_pyinfra_output(text) == [("h1", "X | y", "Success")]


def test_failure_report_shows_the_failed_operation_with_its_own_words() -> None:
    # As pyinfra printed a failed restart in a CI run: the unit's words precede `Error:`.
    output = (
        "--> Starting operation: Edge | Run nginx.service \n"
        "    [h1] No changes\n    [h2] No changes\n"
        "--> Starting operation: Edge | Restart nginx.service for its hardened unit \n"
        "    [h1] Success\n"
        "    [h2] Job for nginx.service failed because the control process exited.\n"
        "    [h2] \x1b[31mError: executed 1 commands\x1b[0m\n"
        "--> Starting operation: Edge | Reload nginx.service \n    [h1] No changes\n"
        + "summary line\n"
        * 400
    )
    report = DeployResult(returncode=1, output=output).failure_report(tail=100)
    failed, rest = report.split("[...]")
    assert "Restart nginx.service for its hardened unit" in failed
    assert "Job for nginx.service failed" in failed
    assert "Run nginx.service" not in failed and "Reload" not in failed
    assert len(rest) <= 101  # the tail: the summary table
    assert failed_units(output) == [("h2", "nginx.service")]


def test_missing_tool_names_the_package() -> None:
    with pytest.raises(PrerequisiteError, match=r"apt-get install -y no-such-package"):
        require_tools({"definitely-not-a-tool-xyz": "no-such-package"})


def test_ssh_config_from_inventory() -> None:
    hosts = [
        InventoryHost(
            "web",
            ("prod",),
            {"ssh_hostname": "192.0.2.10", "ssh_user": "admin", "ssh_port": 2222, "ssh_key": "/k"},
        ),
        InventoryHost("db.example.org", (), {}),
    ]
    text = render_ssh_config(hosts)
    assert "Host web\n    HostName 192.0.2.10\n    User admin\n    Port 2222\n" in text
    assert "IdentityFile /k" in text
    assert "Host db.example.org\n    HostName db.example.org\n" in text


def test_role_settings_error_names_the_field() -> None:
    with pytest.raises(RoleSettingsError) as err:
        parse_settings(BaseRoleSettings, "base", {"timezone": "../etc", "bogus": 1}, "h1")
    text = str(err.value)
    assert "host h1" in text
    assert "base.timezone" in text
    assert "base.bogus" in text


def test_base_settings_defaults() -> None:
    cfg = parse_settings(BaseRoleSettings, "base", None, "h1")
    assert cfg.timezone == "UTC"
    assert cfg.hostname is None
