"""Prometheus metrics of cxflow's processes: the gRPC server interceptor and the ASGI middleware that count and time
requests, the domain counters (events, runs, task attempts, outbox backlog) and the /metrics endpoint of a registry.

Each service takes its own CollectorRegistry (never prometheus-client's process-global one), so services that share a
process in tests keep separate series. Labels stay low-cardinality: gRPC method, route template, status, outcome;
never an organization, a contact or an id.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import grpc
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import start_http_server

log = structlog.get_logger(__name__)

# Seconds. Calls and requests of cxflow range from a cached lookup (~1 ms) to an SMTP send or a webhook (seconds).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Event outcomes (cxflow_events_total{outcome}).
EVENT_ACCEPTED = "accepted"  # stored for processing, or a run was started for it
EVENT_DEDUPLICATED = "deduplicated"  # its id was seen before: acknowledged, nothing new happens
EVENT_UNMATCHED = "unmatched"  # a trigger's filter did not match: nothing to start
EVENT_REJECTED = "rejected"  # it can never be used as it is (bad mapping, disabled workflow, a message failed for good)

# Where an event came in (cxflow_events_total{intake}).
INTAKE_SEGMENT = "segment"  # the Segment Tracking API (HTTP /v1/*) and gRPC IngestEvents: messages into the inbox
INTAKE_TRIGGER_URL = "trigger_url"  # a workflow's trigger URL (HTTP /triggers/{workflow_id})

# Run outcomes (cxflow_runs_total{outcome}).
RUN_STARTED = "started"
RUN_COMPLETED = "completed"
RUN_FAILED = "failed"
RUN_CANCELED = "canceled"

# Task attempt outcomes (cxflow_task_attempts_total{outcome}).
ATTEMPT_SUCCEEDED = "succeeded"
ATTEMPT_FAILED_RETRYABLE = "failed_retryable"  # Temporal retries it within the task's retry window
ATTEMPT_FAILED_PERMANENT = "failed_permanent"  # a non-retryable failure: the request itself is wrong or refused
ATTEMPT_CANCELED = "canceled"


class GrpcServerMetrics:
    """cxflow_grpc_requests_total{method, code} and cxflow_grpc_request_duration_seconds{method}."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "cxflow_grpc_requests",
            "gRPC calls served, by full method name and status code (code != OK are the errors)",
            ["method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "cxflow_grpc_request_duration_seconds",
            "Time to serve a gRPC call, by full method name",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self.requests.labels(method, code.name).inc()
        self.duration.labels(method).observe(seconds)


def _status_of(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    """The status the call ends with: the one the handler set or aborted with (OK when none), CANCELLED when the
    client went away, UNKNOWN when the handler raised something else (which is what grpc answers then)."""
    if error is None or isinstance(error, grpc.aio.AbortError):
        code = context.code()
        return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):
    """Counts and times every unary-response and server-streaming call. Put it first in the server's interceptors, so
    it sees the statuses the others abort with (UNAUTHENTICATED, the domain errors' codes)."""

    def __init__(self, metrics: GrpcServerMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # grpc answers UNIMPLEMENTED; an unknown method name is not worth a label
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._time_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            behavior = handler.unary_stream
            # A streaming handler either yields its messages or awaits context.write() (health's Watch does).
            timed = (
                self._time_stream(behavior, method)
                if inspect.isasyncgenfunction(behavior)
                else self._time_unary(behavior, method)
            )
            return grpc.unary_stream_rpc_method_handler(
                timed,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming: only reflection, which is tooling, not traffic

    def _time_unary(self, behavior: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                return await behavior(request, context)
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._metrics.observe(method, _status_of(context, error), time.perf_counter() - started)

        return timed

    def _time_stream(self, behavior: Callable[..., AsyncIterator[Any]], method: str) -> Callable[..., AsyncIterator[Any]]:
        async def timed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started = time.perf_counter()
            error: BaseException | None = None
            try:
                async for item in behavior(request, context):
                    yield item
            except BaseException as exc:
                error = exc
                raise
            finally:
                self._metrics.observe(method, _status_of(context, error), time.perf_counter() - started)

        return timed


class HttpMetrics:
    """cxflow_http_requests_total{method, route, status} and cxflow_http_request_duration_seconds{method, route}."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "cxflow_http_requests",
            "HTTP requests answered, by method, route template and status class (2xx, 4xx, 5xx)",
            ["method", "route", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "cxflow_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, f"{status // 100}xx").inc()
        self.duration.labels(method, route).observe(seconds)


UNMATCHED_ROUTE = "unmatched"  # a path no route serves (404s of scanners): one label value, not one per path

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def route_template(scope: Scope) -> str:
    """The template of the route that served the request ("/triggers/{workflow_id}"), never the concrete path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class HttpMetricsMiddleware:
    """ASGI middleware (add it last, so it is the outermost and sees every answer, 429s and 500s included):
    counts and times each HTTP request by method, route template and status class."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], metrics: HttpMetrics) -> None:
        self.app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app raises before it starts a response

        async def send_noting_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except asyncio.CancelledError:
            status = 499  # the client went away before an answer (nginx's code for it), not a server error
            raise
        finally:
            # The router records the matched route in the scope it was given, which is this one.
            self._metrics.observe(scope.get("method", ""), route_template(scope), status, time.perf_counter() - started)


class EventMetrics:
    """cxflow_events_total{intake, outcome}: events that reached ingestion and what became of them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "cxflow_events",
            "Events received by ingestion, by intake (segment, trigger_url) and outcome "
            "(accepted, deduplicated, unmatched, rejected)",
            ["intake", "outcome"],
            registry=registry,
        )

    def record(self, intake: str, outcome: str, count: int = 1) -> None:
        if count:
            self.events.labels(intake, outcome).inc(count)


class RunMetrics:
    """cxflow_runs_total{outcome}: TriggeredRun workflows started, completed, failed and canceled on this worker."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "cxflow_runs",
            "Triggered runs this worker started executing and how they ended (started, completed, failed, canceled)",
            ["outcome"],
            registry=registry,
        )

    def record(self, outcome: str) -> None:
        self.runs.labels(outcome).inc()


class TaskMetrics:
    """cxflow_task_attempts_total{task_type, outcome} and cxflow_task_attempt_duration_seconds{task_type}."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "cxflow_task_attempts",
            "Attempts of run tasks (activities), by task type and outcome "
            "(succeeded, failed_retryable, failed_permanent, canceled)",
            ["task_type", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "cxflow_task_attempt_duration_seconds",
            "Time one attempt of a run task took, by task type",
            ["task_type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )

    def record(self, task_type: str, outcome: str, seconds: float) -> None:
        self.attempts.labels(task_type, outcome).inc()
        self.duration.labels(task_type).observe(seconds)


class OutboxMetrics:
    """cxflow_outbox_backlog and cxflow_outbox_delivered_total: the directory's membership events on their way."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.backlog = Gauge(
            "cxflow_outbox_backlog",
            "Membership events committed in the directory's outbox and not yet delivered to ingestion",
            registry=registry,
        )
        self.delivered = Counter(
            "cxflow_outbox_delivered",
            "Membership events the outbox dispatcher delivered to ingestion",
            registry=registry,
        )


@dataclass
class MetricsEndpoint:
    """A running /metrics HTTP endpoint (prometheus-client's server, on its own thread)."""

    host: str
    port: int
    _server: Any
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve_metrics(registry: CollectorRegistry, host: str, port: int, *, process: str) -> MetricsEndpoint | None:
    """Serves registry at http://host:port/metrics; port 0 turns the endpoint off (returns None)."""
    if port == 0:
        log.info("metrics.off", process=process)
        return None
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise RuntimeError(f"{process}: cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
    bound = server.server_port
    log.info("metrics.serving", process=process, url=f"http://{host}:{bound}/metrics")
    return MetricsEndpoint(host, bound, server, thread)
