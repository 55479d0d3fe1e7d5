"""The Nextcloud side: nc-py-api's client, and the chunked upload (v2) driven by hand.

nc-py-api's ``files.upload_stream`` cannot resume: it names each upload folder at random and
DELETEs it in a ``finally``, so an interrupted upload loses the chunks the server kept. The
same protocol is driven here over nc-py-api's own DAV session (its authenticated niquests
``Session`` with the DAV endpoint as base URL): MKCOL ``/uploads/USER/ID`` with a
``Destination``, PUT chunks ``1``, ``2``, … (``OC-Total-Length``), MOVE ``ID/.file`` onto the
destination. The upload folder's name comes from the object id, so after a restart a PROPFIND
on it says which chunks the server holds, and only the rest are sent.
"""

from __future__ import annotations

import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote, unquote

import niquests
from nc_py_api import Nextcloud  # type: ignore[import-untyped]

DAV = "{DAV:}"
_PROPFIND_SIZE = (
    b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop>'
    b"<d:getcontentlength/><d:resourcetype/></d:prop></d:propfind>"
)
_TRANSIENT = {408, 423, 425, 429, 500, 502, 503, 504, 507}


class FileRange:
    """``size`` bytes of the open file ``fd`` from ``start``, as a request body: read a block
    at a time as the request is sent (a 10 MiB chunk in memory was a tenth of the worker's
    peak RSS), with its length known (Content-Length, not chunked encoding). ``on_block`` sees
    each block read with its file offset (the caller hashes the ciphertext as it goes)."""

    BLOCK = 1 << 20

    def __init__(
        self,
        fd: int,
        start: int,
        size: int,
        on_block: Callable[[int, bytes], None] = lambda _offset, _block: None,
    ) -> None:
        self.fd, self.start, self.size, self.on_block = fd, start, size, on_block

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        while sent < self.size:
            block = os.pread(self.fd, min(self.BLOCK, self.size - sent), self.start + sent)
            if not block:
                raise OSError(f"the file ends {self.size - sent} bytes short of the chunk")
            self.on_block(self.start + sent, block)
            sent += len(block)
            yield block


class RemoteError(Exception):
    """The server refused, or could not be reached. ``transient``: worth trying again."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class RemoteFile:
    name: str
    size: int
    collection: bool


class Remote:
    def __init__(
        self, url: str, user: str, password: str, *, timeout_s: float, verify: str | bool = True
    ) -> None:
        self.user = user
        # niquests takes a CA file only per request: set on the session (as nc-py-api does
        # with npa_nc_cert) it is ignored and the system store is used.
        self._verify = verify
        # 0.30's sync class warns it goes in 0.31 (AsyncNextcloud has the same session and
        # endpoints); the worker is a thread, so the sync one fits until then.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            self.nc = Nextcloud(
                nextcloud_url=url,
                nc_auth_user=user,
                nc_auth_pass=password,
                npa_timeout=timeout_s,
                npa_timeout_dav=timeout_s,
                npa_nc_cert=verify,
            )

    @property
    def _dav(self) -> Any:
        # nc-py-api's DAV session (private): auth, base URL, TLS and timeouts as configured.
        return self.nc._session.adapter_dav

    def _request(self, method: str, path: str, *, ok: tuple[int, ...], **kwargs: Any) -> Any:
        try:
            response = self._dav.request(method, quote(path), verify=self._verify, **kwargs)
        except niquests.RequestException as exc:
            raise RemoteError(f"{method} failed: {type(exc).__name__}", transient=True) from None
        if response.request is not None:
            # niquests' response and request sit in a reference cycle: only the cyclic GC
            # would free a sent chunk (10 MiB each, 90 MiB measured before it ran).
            response.request.body = None
        if response.status_code not in ok:
            code = int(response.status_code or 0)
            raise RemoteError(f"{method} answered {code}", transient=code in _TRANSIENT)
        return response

    def _files(self, path: str) -> str:
        return f"/files/{self.user}/{path.lstrip('/')}"

    def _uploads(self, upload_id: str) -> str:
        return f"/uploads/{self.user}/{upload_id}"

    def _destination(self, path: str) -> dict[str, str]:
        return {"Destination": self.nc._session.cfg.dav_endpoint + quote(self._files(path))}

    def makedirs(self, path: str) -> None:
        """MKCOL each folder of ``path`` in turn (405: it is there already), over the same
        session and TLS settings as every other request."""
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            self._request("MKCOL", self._files("/".join(parts[:depth])), ok=(201, 405))

    def list(self, path: str, *, uploads: bool = False) -> list[RemoteFile] | None:
        """The members of a collection (None: it does not exist)."""
        target = self._uploads(path) if uploads else self._files(path)
        response = self._request(
            "PROPFIND", target, ok=(207, 404), headers={"Depth": "1"}, data=_PROPFIND_SIZE
        )
        if response.status_code == 404:
            return None
        return parse_propfind(response.content or b"", target)

    def start_upload(self, upload_id: str, destination: str) -> None:
        self._request("MKCOL", self._uploads(upload_id), ok=(201, 405),
                      headers=self._destination(destination))  # fmt: skip

    def put_chunk(
        self,
        upload_id: str,
        number: int,
        data: bytes | FileRange,
        destination: str,
        total: int | None,
    ) -> None:
        # The total is unknown while the document is still being encrypted (it is optional).
        headers = self._destination(destination)
        if total is not None:
            headers["OC-Total-Length"] = str(total)
        self._request("PUT", f"{self._uploads(upload_id)}/{number}", ok=(201, 204),
                      data=data, headers=headers)  # fmt: skip

    def finish_upload(self, upload_id: str, destination: str, total: int) -> None:
        headers = {**self._destination(destination), "OC-Total-Length": str(total)}
        self._request("MOVE", f"{self._uploads(upload_id)}/.file", ok=(201, 204),
                      headers=headers)  # fmt: skip
        self._request("DELETE", self._uploads(upload_id), ok=(204, 404))  # the server may have

    def discard_upload(self, upload_id: str) -> None:
        self._request("DELETE", self._uploads(upload_id), ok=(204, 404))

    def put(self, path: str, data: bytes) -> None:
        self._request("PUT", self._files(path), ok=(201, 204), data=data)

    def stream(self, path: str, block: int = 1024 * 1024) -> Iterator[bytes]:
        response = self._request("GET", self._files(path), ok=(200,), stream=True)
        try:
            yield from response.iter_content(block)
        except niquests.RequestException as exc:
            raise RemoteError(f"GET broke off: {type(exc).__name__}", transient=True) from None
        finally:
            response.close()

    def download(self, path: str, sink: IO[bytes]) -> None:
        for block in self.stream(path):
            sink.write(block)

    def close(self) -> None:
        self.nc._session.adapter.close()
        self._dav.close()


def parse_propfind(body: bytes, collection: str) -> list[RemoteFile]:
    """A Depth-1 PROPFIND's members (the collection itself left out). Pure."""
    root = ET.fromstring(body)  # noqa: S314 (the configured server)
    base = unquote(collection).rstrip("/")
    found = []
    for response in root.iter(f"{DAV}response"):
        href = unquote(response.findtext(f"{DAV}href") or "").rstrip("/")
        if href.endswith(base) or not href:
            continue
        size = response.findtext(f".//{DAV}getcontentlength")
        collection_type = response.find(f".//{DAV}resourcetype/{DAV}collection")
        found.append(
            RemoteFile(href.rsplit("/", 1)[-1], int(size or 0), collection_type is not None)
        )
    return found
