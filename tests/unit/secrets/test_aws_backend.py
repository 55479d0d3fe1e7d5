"""The aws backend through botocore's Stubber: no AWS endpoint is reachable from here, so
requests are validated against the Secrets Manager model and answered with canned responses."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from appliance.secrets import (
    SecretDenied,
    SecretError,
    SecretManager,
    SecretNotFound,
    SecretsConfigError,
    SecretUnavailable,
)
from appliance.secrets.aws import AwsBackend
from appliance.secrets.settings import AwsSecretsSettings

boto3 = pytest.importorskip("boto3")
from botocore.stub import Stubber  # noqa: E402

SECRET_ID = "sovereign/postgres/sovereign"


@pytest.fixture
def stubbed() -> Iterator[tuple[AwsBackend, Stubber]]:
    client = boto3.client(
        "secretsmanager",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="not-a-real-key",
    )
    with Stubber(client) as stubber:
        yield AwsBackend(AwsSecretsSettings(region="eu-west-1"), client=client), stubber
        stubber.assert_no_pending_responses()


def value_response(text: str) -> dict[str, Any]:
    return {"ARN": f"arn:aws:secretsmanager:eu-west-1:1:secret:{SECRET_ID}", "SecretString": text}


def test_read_json_fields(stubbed: tuple[AwsBackend, Stubber]) -> None:
    backend, stub = stubbed
    stub.add_response(
        "get_secret_value", value_response('{"password": "aws-pass"}'), {"SecretId": SECRET_ID}
    )
    secrets = SecretManager(backend, 300)
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "aws-pass"
    assert secrets.get("postgres/sovereign", "password").get_secret_value() == "aws-pass"  # cached


@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("ResourceNotFoundException", SecretNotFound),
        ("AccessDeniedException", SecretDenied),
        ("InternalServiceError", SecretUnavailable),
    ],
)
def test_errors(stubbed: tuple[AwsBackend, Stubber], code: str, error: type[Exception]) -> None:
    backend, stub = stubbed
    stub.add_client_error("get_secret_value", service_error_code=code, http_status_code=400)
    with pytest.raises(error, match="secret postgres/sovereign"):
        backend.read("postgres/sovereign")


def test_not_a_json_object(stubbed: tuple[AwsBackend, Stubber]) -> None:
    backend, stub = stubbed
    stub.add_response("get_secret_value", value_response("plain-text-value"))
    with pytest.raises(SecretError, match="not a JSON object") as err:
        backend.read("postgres/sovereign")
    assert "plain-text-value" not in str(err.value)


def test_put_updates_or_creates(stubbed: tuple[AwsBackend, Stubber]) -> None:
    backend, stub = stubbed
    body = json.dumps({"token": "t"})
    stub.add_response(
        "put_secret_value", {}, {"SecretId": "sovereign/agent/api", "SecretString": body}
    )
    stub.add_client_error("put_secret_value", service_error_code="ResourceNotFoundException")
    stub.add_response("create_secret", {}, {"Name": "sovereign/agent/new", "SecretString": body})
    secrets = SecretManager(backend, 300)
    secrets.put("agent/api", {"token": "t"})
    secrets.put("agent/new", {"token": "t"})


def test_without_boto3_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(SecretsConfigError, match=r"needs boto3.*`aws` extra"):
        AwsBackend(AwsSecretsSettings())
