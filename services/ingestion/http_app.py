"""The HTTP front door: Segment's Tracking API (/v1/*), workflow trigger URLs with capture mode and auto-mapping,
and (with a directory) the Qualtrics-style REST routes (/API/v3/*). Its OpenAPI document is /openapi.json."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import grpc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send
from temporalio.service import RPCError

from cxflow.v1 import directory_pb2_grpc
from services.common.auth import TokenResolver, hash_token
from services.common.errors import GRPC_TO_HTTP, CxflowError
from services.ingestion import http_schemas as schemas
from services.ingestion.automapping import propose_mappings
from services.ingestion.captures import VIA_TRIGGER_URL, capture_if_active, read_capture, start_capture
from services.ingestion.errors import CaptureNotFound, InvalidIngestionRequest, InvalidWriteKey, WorkflowNotFound
from services.ingestion.http_qualtrics import QUALTRICS_PREFIX, add_qualtrics_routes, qualtrics_error
from services.ingestion.http_requests import basic_credentials, read_body, token_organization
from services.ingestion.intake import InboxWriter, SourceCache
from services.ingestion.launcher import RunLauncher
from services.ingestion.models import Workflow
from services.ingestion.processor import InboxProcessor
from services.ingestion.rate_limit import RequestRateLimiter, request_credential, retry_after_header
from services.ingestion.repository import IngestionRepository
from services.ingestion.segment_spec import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    batch_messages,
    parse_object,
    single_message,
    utc_iso,
)
from workflows.contracts import WorkflowSnapshot

log = structlog.get_logger(__name__)

MAX_TRIGGER_BODY_BYTES = 100 * 1024
MAX_SAMPLE_BODY_BYTES = 100 * 1024
_CAPTURE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "workflowId": {"type": "string"},
        "requested": {"type": "integer"},
        "remaining": {"type": "integer"},
        "startedAt": {"type": "string"},
        "events": {"type": "array", "items": {"type": "object"}},
    },
}
_SEGMENT_ERRORS = {400: "malformed JSON, a spec violation or a body over a limit", 401: "missing or unknown write key"}
_TOKEN_ERRORS = {401: "missing or unknown API token", 404: "no such workflow in the token's organization"}


def _error(request: Request, status: int, code: str, message: str) -> JSONResponse:
    if request.url.path.startswith(QUALTRICS_PREFIX):
        return qualtrics_error(status, code, message)
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if request.url.path.startswith("/v1/"):
        # Segment's SDKs read a top-level code and message from an error answer (analytics-python's APIError).
        body.update(code=code, message=message)
    return JSONResponse(body, status_code=status)


def create_app(
    *,
    sessions: async_sessionmaker[AsyncSession],
    launcher: RunLauncher,
    processor: InboxProcessor,
    writer: InboxWriter,
    token_resolver: TokenResolver,
    directory: directory_pb2_grpc.DirectoryServiceStub | None = None,
    organizations: directory_pb2_grpc.OrganizationServiceStub | None = None,
    internal_token: str = "",
    rate_limiter: RequestRateLimiter | None = None,
) -> FastAPI:
    app = FastAPI(
        title="cxflow ingestion",
        version="1",
        description=__doc__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    _install_error_handlers(app)
    if rate_limiter is not None:
        _install_rate_limit(app, rate_limiter)
    sources = SourceCache()
    for call in (*MESSAGE_TYPES, "batch"):
        _add_segment_route(app, call, sessions, writer, sources, processor, rate_limiter)
    _add_trigger_routes(app, sessions, launcher, token_resolver)
    if directory is not None and organizations is not None:
        add_qualtrics_routes(app, directory, organizations, token_resolver, internal_token)
    return app


def _add_segment_route(
    app: FastAPI,
    call: str,
    sessions: async_sessionmaker[AsyncSession],
    writer: InboxWriter,
    sources: SourceCache,
    processor: InboxProcessor,
    rate_limiter: RequestRateLimiter | None,
) -> None:
    is_batch = call == "batch"

    async def segment_call(request: Request) -> JSONResponse:
        received_at = datetime.now(UTC)
        with writer.arriving():  # a commit about to start waits briefly for this request
            credentials = basic_credentials(request)
            raw_body = await read_body(request, MAX_BATCH_BYTES if is_batch else MAX_MESSAGE_BYTES)
            body = parse_object(raw_body)
            write_key = credentials[0] if credentials else body.get("writeKey")
            if not isinstance(write_key, str) or not write_key:
                raise InvalidWriteKey()
            if credentials is None and rate_limiter is not None:
                # A write key in the body escapes the header-keyed middleware; it shares the bucket of Basic auth's user name.
                wait = rate_limiter.take("authorization:" + _basic_header(write_key))
                if wait:
                    return _rate_limited(request, wait)
            key_hash = hash_token(write_key)
            source = sources.get(key_hash)
            if source is None:
                async with sessions() as session:
                    row = await IngestionRepository(session).source_by_write_key_hash(key_hash)
                if row is None:
                    raise InvalidWriteKey()
                source = sources.put(key_hash, row)
            messages = batch_messages(body, received_at, len(raw_body)) if is_batch else [single_message(body, call, received_at)]
            committed = writer.submit(source, messages, received_at)
        acceptance = await committed  # durable before the 200
        processor.wake()
        log.info("segment.accepted", source_id=source.id, call=call, messages=len(messages), duplicates=acceptance.duplicates)
        return JSONResponse({"success": True})

    app.add_api_route(
        f"/v1/{call}",
        segment_call,
        methods=["POST"],
        name=f"segment_{call}",
        summary=f"Segment Tracking API: {call}",
        tags=["Segment Tracking API"],
        description="Auth: HTTP Basic with the source's write key as user name (empty password), or writeKey in the body. "
        "Bodies may be gzip-compressed (Content-Encoding: gzip); limits apply to the decompressed size.",
        openapi_extra=schemas.body(schemas.BATCH_SCHEMA if is_batch else schemas.segment_message_schema(call)),
        responses=schemas.answers(
            {"type": "object", "properties": {"success": {"type": "boolean"}}, "required": ["success"]}, _SEGMENT_ERRORS
        ),
    )


async def _owned_workflow(sessions: async_sessionmaker[AsyncSession], workflow_id: str, organization_id: str) -> Workflow:
    async with sessions() as session:
        workflow = await IngestionRepository(session).get_workflow(workflow_id)
    if workflow is None or workflow.organization_id != organization_id:
        raise WorkflowNotFound(workflow_id)  # another organization's workflow is as unknown as a missing one
    return workflow


def _capture_body(workflow_id: str, capture: Any, events: list[Any]) -> dict[str, Any]:
    return {
        "workflowId": workflow_id,
        "requested": capture.requested,
        "remaining": capture.remaining,
        "startedAt": utc_iso(capture.started_at),
        "events": [
            {"eventId": e.event_id, "via": e.via, "receivedAt": utc_iso(e.received_at), "payload": e.payload} for e in events
        ],
    }


def _add_trigger_routes(
    app: FastAPI, sessions: async_sessionmaker[AsyncSession], launcher: RunLauncher, token_resolver: TokenResolver
) -> None:
    tags = ["Workflow triggers"]

    @app.post(
        "/triggers/{workflow_id}",
        tags=tags,
        summary="A workflow's trigger URL (Segment's \"Start a workflow\" action)",
        openapi_extra=schemas.body(schemas.ANY_OBJECT_SCHEMA),
        responses={
            **schemas.answers(
                {"type": "object", "properties": {"eventId": {"type": "string"}, "matched": {"type": "boolean"},
                                                  "runs": {"type": "array", "items": {"type": "object"}}}},
                {**_TOKEN_ERRORS, 400: "malformed JSON, a value a mapping cannot coerce", 409: "the workflow is disabled",
                 413: "a body over 100 KB"},
                ok_status=202,
            ),
            200: {"description": "the trigger's filter did not match: nothing started"},
        },
    )
    async def trigger(workflow_id: str, request: Request) -> JSONResponse:
        """Any JSON object (X-API-TOKEN or HTTP Basic username:apitoken) starts one run of the workflow per event id."""
        organization_id = await token_organization(request, token_resolver)
        body = parse_object(await read_body(request, MAX_TRIGGER_BODY_BYTES, too_large_status=413))
        workflow = await _owned_workflow(sessions, workflow_id, organization_id)
        event_id = _event_id(body, request)
        snapshot = WorkflowSnapshot(workflow_id=workflow.id, version=workflow.version, name=workflow.name, spec=workflow.spec)
        with structlog.contextvars.bound_contextvars(org=organization_id, event_id=event_id):
            # Recorded before the run is tried, so a capture shows even the events whose mappings still fail.
            captured = await capture_if_active(sessions, workflow.id, event_id, body, VIA_TRIGGER_URL)
            outcome = await launcher.trigger(organization_id, snapshot, body, event_id)
        runs = [{"workflowId": r.workflow_id, "runId": r.run_id, "duplicate": r.duplicate} for r in outcome.runs]
        answer: dict[str, Any] = {"eventId": outcome.event_id, "matched": outcome.matched, "runs": runs}
        if captured:
            answer["captured"] = True
        return JSONResponse(answer, status_code=202 if outcome.matched else 200)

    @app.post(
        "/triggers/{workflow_id}/capture",
        tags=tags,
        summary="Capture mode (\"Run test data\"): record the next events the trigger receives",
        openapi_extra=schemas.body(schemas.CAPTURE_REQUEST_SCHEMA, required=False),
        responses=schemas.answers(_CAPTURE_SCHEMA, {**_TOKEN_ERRORS, 400: "count outside 1..100"}, ok_status=201),
    )
    async def capture_start(workflow_id: str, request: Request) -> JSONResponse:
        organization_id = await token_organization(request, token_resolver)
        raw = await read_body(request, 1024)
        options = parse_object(raw) if raw.strip() else {}
        unknown = sorted(set(options) - {"count"})
        if unknown:
            raise InvalidIngestionRequest(unknown[0], "unknown field; the body may hold only count")
        count = options.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InvalidIngestionRequest("count", "must be an integer from 1 to 100")
        workflow = await _owned_workflow(sessions, workflow_id, organization_id)
        async with sessions() as session:
            capture = await start_capture(session, workflow.id, organization_id, count)
            body = _capture_body(workflow.id, capture, [])
        return JSONResponse(body, status_code=201)

    @app.get(
        "/triggers/{workflow_id}/capture",
        tags=tags,
        summary="The events the trigger's capture recorded so far",
        responses=schemas.answers(_CAPTURE_SCHEMA, {**_TOKEN_ERRORS}),
    )
    async def capture_read(workflow_id: str, request: Request) -> JSONResponse:
        organization_id = await token_organization(request, token_resolver)
        workflow = await _owned_workflow(sessions, workflow_id, organization_id)
        async with sessions() as session:
            capture, events = await read_capture(session, workflow.id, organization_id)
        if capture is None:
            raise CaptureNotFound(workflow.id)
        return JSONResponse(_capture_body(workflow.id, capture, events))

    @app.post(
        "/mappings/propose",
        tags=tags,
        summary="Auto-mapping (\"Add field mapping\"): one mapping per leaf of a sample payload",
        openapi_extra=schemas.body(schemas.ANY_OBJECT_SCHEMA),
        responses=schemas.answers(
            {"type": "object", "properties": {"mappings": {"type": "array", "items": {"type": "object"}}}},
            {400: "malformed JSON or too many leaves", 401: "missing or unknown API token", 413: "a body over 100 KB"},
        ),
    )
    async def mappings_propose(request: Request) -> JSONResponse:
        await token_organization(request, token_resolver)
        sample = parse_object(await read_body(request, MAX_SAMPLE_BODY_BYTES, too_large_status=413))
        return JSONResponse({"mappings": propose_mappings(sample)})


def _basic_header(write_key: str) -> str:
    """The Authorization value Segment's SDKs send for a write key (user name, empty password)."""
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def _rate_limited(request: Request, wait: float) -> JSONResponse:
    answer = _error(request, 429, "rate_limited", "too many requests for this credential; retry after the Retry-After seconds")
    answer.headers["Retry-After"] = retry_after_header(wait)
    return answer


class RateLimitMiddleware:
    """429 before any work for a credential over its rate; requests without credentials meet the 401 of their route.

    Plain ASGI rather than Starlette's BaseHTTPMiddleware: it runs on every intake request, and answering or passing
    the call on needs none of the request/response wrapping (and its extra task) that one adds."""

    def __init__(self, app: ASGIApp, limiter: RequestRateLimiter) -> None:
        self._app = app
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            credential = request_credential(Headers(scope=scope))
            wait = self._limiter.take(credential) if credential else 0.0
            if wait:
                request = Request(scope)
                log.info("http.rate_limited", path=request.url.path, retry_after=retry_after_header(wait))
                await _rate_limited(request, wait)(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _install_rate_limit(app: FastAPI, limiter: RequestRateLimiter) -> None:
    app.add_middleware(RateLimitMiddleware, limiter=limiter)

    describe_routes = app.openapi

    def openapi_with_rate_limit() -> dict[str, Any]:
        """Every route may answer 429: added to each operation of the generated document once."""
        if app.openapi_schema:
            return app.openapi_schema
        document = describe_routes()
        for path, item in document["paths"].items():
            schema = schemas.QUALTRICS_ERROR_SCHEMA if path.startswith(QUALTRICS_PREFIX) else schemas.ERROR_SCHEMA
            for operation in item.values():
                operation.setdefault("responses", {})["429"] = {
                    "description": "over the credential's request rate (INGESTION_RATE_LIMIT_*); Retry-After says when to retry",
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
                    "content": {"application/json": {"schema": schema}},
                }
        return document

    app.openapi = openapi_with_rate_limit  # type: ignore[method-assign]


def _event_id(body: dict[str, Any], request: Request) -> str:
    message_id = body.get("messageId")
    if isinstance(message_id, str) and message_id.strip():
        return message_id
    return request.headers.get("idempotency-key", "").strip() or uuid.uuid4().hex


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is a JSON body; nothing ever answers with a stack trace."""

    @app.exception_handler(CxflowError)
    async def domain_error(request: Request, exc: CxflowError) -> JSONResponse:
        return _error(request, exc.http_status, exc.code, exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(request, 400, "invalid_argument", "the request does not match this route")

    @app.exception_handler(grpc.aio.AioRpcError)
    async def downstream_grpc_error(request: Request, exc: grpc.aio.AioRpcError) -> JSONResponse:
        log.warning("http.downstream_failed", status=exc.code().name)
        status = GRPC_TO_HTTP.get(exc.code(), 502)
        # A downstream refusal of the caller's input (a bad contact field) is worth passing on as it is.
        message = exc.details() if status < 500 else f"a cxflow service answered {exc.code().name}"
        return _error(request, status, exc.code().name.lower() if status < 500 else "downstream_error", message or "")

    @app.exception_handler(RPCError)
    async def temporal_error(request: Request, exc: RPCError) -> JSONResponse:
        log.warning("http.temporal_failed", status=exc.status.name, error=exc.message)
        return _error(request, 503, "unavailable", "the workflow engine is unavailable; retry later")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("http.unexpected_error", error_type=type(exc).__name__, exc_info=exc)
        return _error(request, 500, "internal", "internal error")
