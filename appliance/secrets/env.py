"""Environment backend, for development: secrets from variables and an optional dotenv file.

A secret's field is one variable::

    APPLIANCE_SECRET_<NAME>__<FIELD>

where ``<NAME>`` is the secret's name with ``/`` written ``__``, and name and field are
upper-cased with ``-``, ``.`` and ``@`` written ``_``. So field ``password`` of secret
``postgres/sovereign`` is ``APPLIANCE_SECRET_POSTGRES__SOVEREIGN__PASSWORD``. Fields come back
lower-cased. Variables of the process override those of ``env_file`` (python-dotenv syntax).
Read-only: the agent cannot write its own environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import SecretStr

from appliance.secrets.backend import Fields, SecretBackend
from appliance.secrets.errors import SecretNotFound, SecretUnavailable

PREFIX = "APPLIANCE_SECRET_"
_UNSAFE = re.compile(r"[-.@]")


def variable_prefix(name: str) -> str:
    """``postgres/sovereign`` → ``APPLIANCE_SECRET_POSTGRES__SOVEREIGN__``."""
    return PREFIX + "__".join(_UNSAFE.sub("_", part).upper() for part in name.split("/")) + "__"


def variable_name(name: str, field: str) -> str:
    """The variable holding one field of a secret."""
    return variable_prefix(name) + _UNSAFE.sub("_", field).upper()


class EnvBackend(SecretBackend):
    kind = "env"

    def __init__(
        self,
        env_file: Path | None = None,
        environ: Callable[[], Mapping[str, str]] = lambda: os.environ,
    ) -> None:
        self._env_file = env_file
        self._environ = environ

    def __repr__(self) -> str:
        return f"EnvBackend(env_file={self._env_file!r})"

    def read(self, name: str) -> Fields:
        prefix = variable_prefix(name)
        fields: Fields = {}
        for key, value in self._variables(name).items():
            rest = key[len(prefix) :] if key.startswith(prefix) else ""
            # "__" in the rest belongs to a longer name: postgres/sovereign/x is not a field.
            if rest and "__" not in rest and value is not None:
                fields[rest.lower()] = SecretStr(value)
        if not fields:
            raise SecretNotFound(name, detail=f"no {prefix}* variable")
        return fields

    def _variables(self, name: str) -> dict[str, str | None]:
        merged: dict[str, str | None] = {}
        if self._env_file is not None:
            if not self._env_file.is_file():
                raise SecretUnavailable(name, f"env file {self._env_file} not found")
            try:
                merged.update(dotenv_values(self._env_file))
            except OSError as exc:
                raise SecretUnavailable(
                    name, f"cannot read env file {self._env_file}: {exc.strerror}"
                ) from None
        merged.update(self._environ())
        return merged

    def status(self) -> dict[str, Any]:
        return {"backend": self.kind, "env_file": str(self._env_file or "")}
