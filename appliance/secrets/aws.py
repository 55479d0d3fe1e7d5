"""AWS Secrets Manager backend (optional extra ``aws``: boto3).

A secret ``postgres/sovereign`` is the Secrets Manager secret ``<prefix>postgres/sovereign``
whose SecretString is a JSON object of string fields. Credentials and region come from boto3's
default chain unless ``region`` is set. Retries are botocore's own ("standard" mode).

No AWS endpoint is reachable from the test bed: the tests drive this class through botocore's
Stubber (real request validation against the service model, canned responses).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from appliance.secrets.backend import Fields, SecretBackend, reveal
from appliance.secrets.errors import (
    SecretDenied,
    SecretError,
    SecretNotFound,
    SecretsConfigError,
    SecretUnavailable,
)

if TYPE_CHECKING:
    from appliance.secrets.settings import AwsSecretsSettings

_DENIED = {"AccessDeniedException", "DecryptionFailure", "UnrecognizedClientException"}
_NOT_FOUND = {"ResourceNotFoundException"}


class AwsBackend(SecretBackend):
    kind = "aws"
    writable = True

    def __init__(self, settings: AwsSecretsSettings, client: Any | None = None) -> None:
        self._prefix = settings.prefix
        if client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise SecretsConfigError(
                    "secrets.backend = 'aws' needs boto3: install the agent with its `aws` extra"
                ) from None
            client = boto3.client(
                "secretsmanager",
                region_name=settings.region,
                config=Config(
                    connect_timeout=settings.timeout_s,
                    read_timeout=settings.timeout_s,
                    retries={"mode": "standard", "max_attempts": 3},
                ),
            )
        self._client = client

    def __repr__(self) -> str:
        return f"AwsBackend(prefix={self._prefix!r})"

    def read(self, name: str) -> Fields:
        response = self._request(name, "get_secret_value", SecretId=self._prefix + name)
        try:
            data = json.loads(response["SecretString"])
        except (KeyError, ValueError):
            data = None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretError(name, "is not a JSON object of string fields in Secrets Manager")
        return {key: SecretStr(value) for key, value in data.items()}

    def write(self, name: str, fields: Fields) -> None:
        text = json.dumps(reveal(fields))
        try:
            self._request(name, "put_secret_value", SecretId=self._prefix + name, SecretString=text)
        except SecretNotFound:
            self._request(name, "create_secret", Name=self._prefix + name, SecretString=text)

    def _request(self, name: str, operation: str, **params: Any) -> dict[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response: dict[str, Any] = getattr(self._client, operation)(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                raise SecretNotFound(name) from None
            if code in _DENIED:
                raise SecretDenied(name, "aws") from None
            raise SecretUnavailable(name, f"secrets manager error {code or 'unknown'}") from None
        except BotoCoreError as exc:
            # Connection, timeout, missing credentials: the class name says which, the message
            # may carry request details.
            raise SecretUnavailable(name, f"secrets manager: {type(exc).__name__}") from None
        return response
