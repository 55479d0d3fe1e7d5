"""What a secret's name and its field names may look like."""

from __future__ import annotations

import re

#: A secret's name: a slash path of segments (letters, digits, ``_ - . @``; no empty, ``.`` or
#: ``..`` segment), e.g. ``postgres/sovereign``; relative to the backend's root (the KV mount).
SECRET_NAME = re.compile(r"[A-Za-z0-9_@-][A-Za-z0-9_.@-]*(/[A-Za-z0-9_@-][A-Za-z0-9_.@-]*)*")
#: A field of a secret (a secret is a mapping of fields to string values).
SECRET_FIELD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")


def check_secret_name(name: str) -> str:
    if len(name) > 512 or not SECRET_NAME.fullmatch(name):
        raise ValueError(
            f"invalid secret name {name!r}: expected a slash path such as 'postgres/sovereign'"
        )
    return name
