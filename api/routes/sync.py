"""Sovereign Sync: /api/sync/documents (queue a document, its status, its content restored
from the server). The worker runs from this router's lifespan, after the agent has started:
at start it picks up every job a previous run left unfinished."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import StreamingResponse
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field

from api.audit import audit_as
from api.auth import OperatorDep, require
from api.errors import ApiError
from api.schemas.errors import AUTH_ERRORS, error_responses
from appliance.security.roles import Role
from appliance.sync import restore
from appliance.sync.agent import build_service
from appliance.sync.crypto import SyncCryptoError
from appliance.sync.remote import RemoteError
from appliance.sync.service import SyncService
from appliance.sync.store import Document, Status


class DocumentIn(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="Absolute path on the host.")


class DocumentOut(BaseModel):
    id: int
    path: str
    status: Status
    reason: str | None
    size: int | None
    sha256: str | None
    bytes_sent: int
    chunks_acked: int
    attempts: int
    requested_by: str
    created_at: float
    updated_at: float
    synced_at: float | None


class DocumentsOut(BaseModel):
    documents: list[DocumentOut]


def document_out(d: Document) -> DocumentOut:
    return DocumentOut(
        id=d.id, path=d.path, status=d.status, reason=d.reason, size=d.size, sha256=d.sha256,
        bytes_sent=d.bytes_sent, chunks_acked=d.chunks_acked, attempts=d.attempts,
        requested_by=d.requested_by, created_at=d.created_at, updated_at=d.updated_at,
        synced_at=d.synced_at,
    )  # fmt: skip


class SyncCollector(Collector):
    def __init__(self, app: FastAPI) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        service: SyncService | None = getattr(self._app.state, "sync", None)
        if service is None:
            return
        try:
            per_status, sent = service.store.counts()
        except Exception:  # the database away: no sync metrics this scrape
            return
        documents = GaugeMetricFamily(
            "appliance_sync_documents", "Sync jobs per status", labels=["status"]
        )
        for status, count in per_status.items():
            documents.add_metric([status], count)
        yield documents
        yield CounterMetricFamily(
            "appliance_sync_uploaded_bytes", "Ciphertext bytes acknowledged by the server",
            value=sent,
        )  # fmt: skip


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    runtime = getattr(app.state, "runtime", None)
    service = None
    if runtime is not None and runtime.store is not None and runtime.settings.sync.enabled:
        service = build_service(
            runtime.settings.sync, runtime.store, runtime.secrets, runtime.notifications
        )
        service.start()
    app.state.sync = service
    collector = SyncCollector(app)
    app.state.prometheus.register(collector)
    try:
        yield
    finally:
        app.state.prometheus.unregister(collector)
        if service is not None:
            await asyncio.to_thread(service.stop)


router = APIRouter(
    prefix="/api/sync",
    tags=["sync"],
    dependencies=[Depends(require(Role.VIEWER))],
    responses={**AUTH_ERRORS, **error_responses(404)},
    lifespan=lifespan,
)


def service_of(request: Request) -> SyncService:
    service: SyncService | None = getattr(request.app.state, "sync", None)
    if service is None:
        # Switched off in this agent's configuration: nothing is there, not a failure.
        raise ApiError(404, "sync is not enabled on this agent ([sync] enabled, and a database)")
    return service


def document_of(service: SyncService, document_id: int) -> Document:
    document = service.store.get(document_id)
    if document is None:
        raise ApiError(404, f"no sync document {document_id}")
    return document


DocumentId = Annotated[int, Path(ge=1)]


@router.post("/documents", response_model=DocumentOut, status_code=202,
             responses=error_responses(404, 422))  # fmt: skip
def sync_document(request: Request, body: DocumentIn, principal: OperatorDep) -> DocumentOut:
    """Queue a document for encrypted sync (operator): 202 with its job, queued; the worker
    encrypts, uploads and verifies it (follow it at GET /api/sync/documents/{id})."""
    audit_as(request, "sync.document", body.path)
    service = service_of(request)
    try:
        document = service.sync_document(body.path, requested_by=principal.name)
    except FileNotFoundError as exc:
        raise ApiError(404, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    return document_out(document)


@router.get("/documents", response_model=DocumentsOut)
def list_documents(
    request: Request,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(ge=1, description="Older than this id (paging).")] = None,
) -> DocumentsOut:
    documents = service_of(request).store.list(status=status, limit=limit, before=before)
    return DocumentsOut(documents=[document_out(d) for d in documents])


@router.get("/documents/{document_id}", response_model=DocumentOut,
            responses=error_responses(404))  # fmt: skip
def get_document(request: Request, document_id: DocumentId) -> DocumentOut:
    return document_out(document_of(service_of(request), document_id))


@router.get("/documents/{document_id}/content", responses=error_responses(404, 409))
def document_content(
    request: Request, document_id: DocumentId, _: OperatorDep
) -> StreamingResponse:
    """The document as synced (operator): downloaded from the server, decrypted with the
    appliance's identity as it streams, its sha256 checked at the end (a mismatch breaks the
    transfer rather than ending it cleanly; the expected sum is in ``X-Content-SHA256``)."""
    service = service_of(request)
    document = document_of(service, document_id)
    if document.status is not Status.SYNCED or document.sha256 is None:
        raise ApiError(409, f"sync document {document_id} is {document.status.value}")
    try:
        password, identity = service.credentials()
    except Exception as exc:  # the secrets backend away (Vault sealed): named, not shown
        raise ApiError(503, f"sync credentials unavailable: {type(exc).__name__}") from None
    remote = service.remote(password)
    blocks = restore.decrypted(remote, service.settings.remote_root, document.object_id,
                               [identity], document.sha256)  # fmt: skip
    try:  # the first block before answering: a server away or a bad object is a clear error
        first = next(blocks, b"")
    except RemoteError as exc:
        remote.close()
        raise ApiError(503, f"the sync server: {exc}") from None
    except (SyncCryptoError, restore.RestoreError) as exc:
        remote.close()
        raise ApiError(409, f"sync document {document_id} on the server: {exc}") from None

    def body() -> Iterator[bytes]:
        try:
            yield first
            yield from blocks
        finally:
            blocks.close()
            remote.close()

    headers = {"X-Content-SHA256": document.sha256, "Content-Length": str(document.size)}
    return StreamingResponse(body(), media_type="application/octet-stream", headers=headers)
