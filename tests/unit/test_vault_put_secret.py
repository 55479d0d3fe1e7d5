"""`sovereign vault put-secret`: an agent secret (a notification channel's credentials) read
from stdin or a file, never argv, written into Vault KV where the agent's own policy lets it
read it (a real OpenBao, configured as the vault role configures it), no value ever echoed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.secrets import SecretManager
from appliance.secrets.settings import VaultClientSettings
from appliance.secrets.vault import VaultBackend
from controller.errors import SovereignError
from sovereign.cli import cli
from sovereign.vault import (
    check_agent_secret_name,
    check_channel_fields,
    parse_fields,
    write_secret,
)
from tests.support import cached_binary
from tests.unit.secrets.conftest import Bao, configure_like_the_role

VALUE = "s3cr3t-integration-key"


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Bao, Path, Path]]:
    workdir = tmp_path_factory.mktemp("bao")
    server = Bao(cached_binary("bao"), workdir)
    server.start()
    try:
        role_file, secret_file = configure_like_the_role(server, workdir / "agent")
        yield server, role_file, secret_file
    finally:
        server.stop()


def test_fields_are_a_json_object_of_strings() -> None:
    assert parse_fields(json.dumps({"integration_key": VALUE, "api_key": "k"})) == {
        "integration_key": VALUE,
        "api_key": "k",
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"integration_key={VALUE}", "JSON object"),
        (json.dumps([VALUE]), "JSON object"),
        (json.dumps({"integration_key": 5}), "integration_key: must be a non-empty string"),
        (json.dumps({"bad field": VALUE}), "invalid field name"),
        ("{}", "non-empty"),
    ],
)
def test_bad_fields_are_refused_without_echoing_values(text: str, says: str) -> None:
    with pytest.raises(SovereignError, match=says) as err:
        parse_fields(text)
    assert VALUE not in str(err.value)


@pytest.mark.parametrize("name", ["postgres/sovereign", "agent/", "agent/../x", "notify/pager"])
def test_only_secrets_the_agent_may_read_are_written(name: str) -> None:
    with pytest.raises(SovereignError):
        check_agent_secret_name(name)


def test_a_written_secret_is_what_the_agent_reads_with_its_own_approle(
    bao: tuple[Bao, Path, Path],
) -> None:
    server, role_file, secret_file = bao
    fields = {"integration_key": VALUE, "api_key": "apikey123"}
    version = write_secret(server.root(), "sovereign", "agent/notify/pager", fields)
    assert version == 1
    assert write_secret(server.root(), "sovereign", "agent/notify/pager", fields) == 2
    settings = VaultClientSettings.model_validate(
        {"address": server.address, "ca_cert": server.ca_cert,
         "role_id_file": role_file, "secret_id_file": secret_file, "timeout_s": 2.0}
    )  # fmt: skip
    secrets = SecretManager(VaultBackend(settings), 0)
    try:
        got = secrets.get_all("agent/notify/pager")
        assert {k: v.get_secret_value() for k, v in got.items()} == fields
    finally:
        secrets.close()


def test_the_cli_reads_the_secret_from_stdin_and_refuses_a_name_outside_agent(
    tmp_path: Path,
) -> None:
    inventory = tmp_path / "inventory.py"
    inventory.write_text("hosts = []\n")
    result = CliRunner().invoke(
        cli,
        ["vault", "put-secret", str(inventory), "postgres/sovereign"],
        input=json.dumps({"password": VALUE}),
    )
    assert result.exit_code != 0
    assert "the agent reads only secrets under agent/" in str(result.exception)
    assert VALUE not in result.output and VALUE not in str(result.exception)


def test_the_cli_has_no_way_to_take_a_value_on_the_command_line() -> None:
    command = cli.commands["vault"].commands["put-secret"]  # type: ignore[attr-defined]
    assert [p.name for p in command.params if p.param_type_name == "argument"] == [
        "inventory",
        "name",
    ]


PAGER = (("pager", "pagerduty", "agent/notify/pager"), ("email", "email", None))


def test_a_secret_fits_the_declared_channel_that_reads_it() -> None:
    check_channel_fields(PAGER, "agent/notify/pager", {"integration_key": VALUE, "api_key": "k"})
    check_channel_fields(PAGER, "agent/other", {"anything": VALUE})  # no channel reads it


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"integration_key": VALUE}, "missing field(s) api_key"),
        (
            {"intergration_key": VALUE, "api_key": "k"},
            "missing field(s) integration_key; field(s) intergration_key not used by pagerduty",
        ),
    ],
)
def test_a_secret_a_declared_channel_could_not_use_is_refused(
    fields: dict[str, str], says: str
) -> None:
    with pytest.raises(SovereignError) as err:
        check_channel_fields(PAGER, "agent/notify/pager", fields)
    assert str(err.value) == f"channel pager (pagerduty) reads agent/notify/pager: {says}"
    assert VALUE not in str(err.value)
