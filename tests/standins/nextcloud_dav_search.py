"""A minimal WebDAV SEARCH (RFC 5323 basicsearch) for the STAND-IN Nextcloud server (not
Nextcloud): the comparisons nc-py-api's `find`, `by_id`, `move` and `copy` send (eq, like, gt,
gte, lt, lte, and, or, not, is-collection) on d:displayname, d:getcontenttype,
d:getlastmodified, oc:size, oc:fileid and oc:favorite, within a scope under /files/USER."""

from __future__ import annotations

import fnmatch
import mimetypes
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from defusedxml import ElementTree as DefusedET

from tests.standins.nextcloud_dav_props import DAV, OC, oc_property
from tests.standins.nextcloud_dav_state import FileIds

_D = f"{{{DAV}}}"


class SearchRequest:
    """A parsed d:searchrequest: the properties to return, the scope and the condition."""

    def __init__(self, body: bytes) -> None:
        root = DefusedET.fromstring(body)
        search = root.find(f"{_D}basicsearch")
        if search is None:
            raise ValueError("not a d:basicsearch request")
        prop = search.find(f"{_D}select/{_D}prop")
        self.select = [child.tag for child in prop] if prop is not None else []
        scope = search.find(f"{_D}from/{_D}scope")
        self.href = (scope.findtext(f"{_D}href") if scope is not None else None) or "/"
        self.depth = (scope.findtext(f"{_D}depth") if scope is not None else None) or "infinity"
        where = search.find(f"{_D}where")
        self.where = where[0] if where is not None and len(where) else None


def _like(pattern: str) -> str:
    """SQL LIKE (% and _) as an fnmatch pattern."""
    escaped = re.sub(r"([\[\]*?])", r"[\1]", pattern)
    return escaped.replace("%", "*").replace("_", "?")


def _value(prop: str, fs_path: Path, ids: FileIds) -> Any:
    if prop == f"{_D}displayname":
        return fs_path.name
    if prop == f"{_D}getcontenttype":
        if fs_path.is_dir():
            return "httpd/unix-directory"
        return mimetypes.guess_type(fs_path.name)[0] or "application/octet-stream"
    if prop == f"{_D}getlastmodified":
        return datetime.fromtimestamp(int(fs_path.stat().st_mtime), tz=UTC)
    if prop in (f"{{{OC}}}size", f"{{{OC}}}fileid"):
        return int(oc_property(prop, fs_path, ids))
    if prop == f"{{{OC}}}favorite":
        return 0
    raise ValueError(f"stand-in SEARCH does not know {prop}")


def _literal(text: str, like: Any) -> Any:
    if isinstance(like, int):
        # As PHP reads a number: an oc:id such as 00000007ocabc is the fileid 7.
        digits = re.match(r"\s*-?\d+", text)
        if digits is None:
            raise ValueError(f"not a number: {text!r}")
        return int(digits.group())
    if isinstance(like, datetime):
        try:
            return datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return parsedate_to_datetime(text)
    return text


def matches(condition: ET.Element | None, fs_path: Path, ids: FileIds) -> bool:
    if condition is None:
        return True
    op = condition.tag.removeprefix(_D)
    if op == "and":
        return all(matches(child, fs_path, ids) for child in condition)
    if op == "or":
        return any(matches(child, fs_path, ids) for child in condition)
    if op == "not":
        return not matches(condition[0], fs_path, ids)
    if op == "is-collection":
        return fs_path.is_dir()
    prop = condition.find(f"{_D}prop")
    if prop is None or not len(prop):
        raise ValueError(f"{op} without a property")
    value = _value(prop[0].tag, fs_path, ids)
    literal = _literal(condition.findtext(f"{_D}literal") or "", value)
    if op == "eq":
        return bool(value == literal)
    if op == "like":
        return fnmatch.fnmatchcase(str(value).lower(), _like(str(literal)).lower())
    comparisons = {
        "gt": value > literal,
        "gte": value >= literal,
        "lt": value < literal,
        "lte": value <= literal,
    }
    if op in comparisons:
        return comparisons[op]
    raise ValueError(f"stand-in SEARCH does not know the operator {op}")


def walk_scope(fs_root: Path, depth: str) -> Iterator[Path]:
    """The scope itself and what it holds, to the given depth ("0", "1" or "infinity")."""
    yield fs_root
    if depth == "0" or not fs_root.is_dir():
        return
    yield from sorted(fs_root.iterdir() if depth == "1" else fs_root.rglob("*"))
