"""The HTTP front door: Segment's Tracking API (/v1/*) and per-workflow trigger URLs (/triggers/{id})."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime, timezone
from typing import Any

import grpc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError

from services.common.auth import TokenResolver, hash_token
from services.common.errors import GRPC_TO_HTTP, CxflowError
from services.ingestion.errors import InvalidApiToken, InvalidWriteKey, PayloadTooLarge, WorkflowNotFound
from services.ingestion.intake import accept_messages
from services.ingestion.launcher import RunLauncher
from services.ingestion.processor import InboxProcessor
from services.ingestion.repository import IngestionRepository
from services.ingestion.segment_spec import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    batch_messages,
    decompress,
    parse_object,
    single_message,
)
from workflows.contracts import WorkflowSnapshot

log = structlog.get_logger(__name__)

MAX_TRIGGER_BODY_BYTES = 100 * 1024
# gzip can make incompressible bodies slightly larger; the decompressed size is what the limits are about.
_COMPRESSED_SLACK = 1024


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def read_body(request: Request, limit: int, *, too_large_status: int = 400) -> bytes:
    """The request body, decompressed, refusing to read or inflate more than `limit` bytes."""
    raw_limit = limit + _COMPRESSED_SLACK
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > raw_limit:
        raise PayloadTooLarge(f"the body is larger than {limit} bytes", http_status=too_large_status)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > raw_limit:
            raise PayloadTooLarge(f"the body is larger than {limit} bytes", http_status=too_large_status)
        chunks.append(chunk)
    return decompress(b"".join(chunks), request.headers.get("content-encoding"), limit, too_large_status=too_large_status)


def basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        user, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def create_app(
    *,
    sessions: async_sessionmaker[AsyncSession],
    launcher: RunLauncher,
    processor: InboxProcessor,
    token_resolver: TokenResolver,
) -> FastAPI:
    app = FastAPI(title="cxflow ingestion", docs_url=None, redoc_url=None, openapi_url=None)
    _install_error_handlers(app)

    @app.post("/v1/{call}")
    async def segment_call(call: str, request: Request) -> JSONResponse:
        """Segment's Tracking API: identify, track, page, screen, group, alias and batch."""
        if call != "batch" and call not in MESSAGE_TYPES:
            return _error(404, "not_found", f"unknown Segment call /v1/{call}")
        received_at = datetime.now(timezone.utc)
        credentials = basic_credentials(request)
        raw = await read_body(request, MAX_BATCH_BYTES if call == "batch" else MAX_MESSAGE_BYTES)
        body = parse_object(raw)
        write_key = credentials[0] if credentials else body.get("writeKey")
        if not isinstance(write_key, str) or not write_key:
            raise InvalidWriteKey()
        async with sessions() as session:
            repository = IngestionRepository(session)
            source = await repository.source_by_write_key_hash(hash_token(write_key))
            if source is None:
                raise InvalidWriteKey()
            messages = batch_messages(body, received_at) if call == "batch" else [single_message(body, call, received_at)]
            accepted = await accept_messages(repository, source, messages, received_at)
            await session.commit()
        processor.wake()
        log.info("segment.accepted", source_id=source.id, call=call, messages=len(accepted),
                 duplicates=sum(1 for a in accepted if a.duplicate))
        return JSONResponse({"success": True})

    @app.post("/triggers/{workflow_id}")
    async def trigger(workflow_id: str, request: Request) -> JSONResponse:
        """A workflow's trigger URL: any JSON object starts one run of the workflow (once per event id)."""
        credentials = basic_credentials(request)
        token = request.headers.get("x-api-token") or (credentials[1] if credentials else "")
        organization_id = await token_resolver.resolve(token) if token else None
        if organization_id is None:
            raise InvalidApiToken()
        body = parse_object(await read_body(request, MAX_TRIGGER_BODY_BYTES, too_large_status=413))
        async with sessions() as session:
            workflow = await IngestionRepository(session).get_workflow(workflow_id)
        if workflow is None or workflow.organization_id != organization_id:
            raise WorkflowNotFound(workflow_id)  # another organization's workflow is as unknown as a missing one
        event_id = _event_id(body, request)
        snapshot = WorkflowSnapshot(workflow_id=workflow.id, version=workflow.version, name=workflow.name, spec=workflow.spec)
        with structlog.contextvars.bound_contextvars(org=organization_id, event_id=event_id):
            outcome = await launcher.trigger(organization_id, snapshot, body, event_id)
        runs = [{"workflowId": r.workflow_id, "runId": r.run_id, "duplicate": r.duplicate} for r in outcome.runs]
        return JSONResponse(
            {"eventId": outcome.event_id, "matched": outcome.matched, "runs": runs}, status_code=202 if outcome.matched else 200
        )

    return app


def _event_id(body: dict[str, Any], request: Request) -> str:
    message_id = body.get("messageId")
    if isinstance(message_id, str) and message_id.strip():
        return message_id
    return request.headers.get("idempotency-key", "").strip() or uuid.uuid4().hex


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is a JSON body; nothing ever answers with a stack trace."""

    @app.exception_handler(CxflowError)
    async def domain_error(_request: Request, exc: CxflowError) -> JSONResponse:
        return _error(exc.http_status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "not_found" if exc.status_code == 404 else "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(400, "invalid_argument", "the request does not match this route")

    @app.exception_handler(grpc.aio.AioRpcError)
    async def downstream_grpc_error(_request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        log.warning("http.downstream_failed", status=exc.code().name)
        return _error(GRPC_TO_HTTP.get(exc.code(), 502), "downstream_error", f"a cxflow service answered {exc.code().name}")

    @app.exception_handler(RPCError)
    async def temporal_error(_request: Request, exc: RPCError) -> JSONResponse:
        log.warning("http.temporal_failed", status=exc.status.name, error=exc.message)
        return _error(503, "unavailable", "the workflow engine is unavailable; retry later")

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unexpected_error", error_type=type(exc).__name__, exc_info=exc)
        return _error(500, "internal", "internal error")
