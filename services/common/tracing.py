"""OpenTelemetry tracing of a cxflow process: spans for HTTP requests, gRPC calls (server and client side), workflow
starts, workflows and activities, exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.

Without an endpoint nothing is configured: the OpenTelemetry API stays the no-op it is by default, no interceptor or
middleware is added, and no span is ever built. One trace then follows an event from the HTTP intake through the
Temporal start (the W3C trace context travels in the workflow's and activities' headers) to the gRPC calls activities make.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:  # the OpenTelemetry packages are imported only once tracing is turned on: no start-up cost without it
    import temporalio.client
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = structlog.get_logger(__name__)

# Liveness probes (docker's every 10 s, the CLI's readiness checks) are not traffic worth a trace.
_EXCLUDED_HTTP_URLS = "/healthz"

_provider: TracerProvider | None = None


def configure_tracing(
    service_name: str, otlp_endpoint: str = "", *, exporter: SpanExporter | None = None
) -> TracerProvider | None:
    """Turns tracing on for this process when otlp_endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) is set, or when a test hands
    in its own exporter; returns the provider, or None when tracing stays off.

    Call it before the process creates its gRPC servers and channels: the grpc.aio instrumentation adds its
    interceptors to the ones created afterwards. HTTP apps and Temporal clients and workers are wired explicitly
    (instrument_http_app, traced_client, temporal_interceptors)."""
    global _provider
    if not otlp_endpoint and exporter is None:
        return None
    if _provider is not None:
        raise RuntimeError("tracing is already configured in this process")
    from opentelemetry import trace
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer
    from opentelemetry.instrumentation.grpc.filters import health_check, negate
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))  # a test's sink: each span as it ends
    trace.set_tracer_provider(provider)  # libraries that ask the global API get the same provider
    GrpcAioInstrumentorServer(filter_=negate(health_check())).instrument(tracer_provider=provider)
    GrpcAioInstrumentorClient(filter_=negate(health_check())).instrument(tracer_provider=provider)
    _provider = provider
    log.info("tracing.configured", service=service_name, otlp_endpoint=otlp_endpoint or None)
    return provider


def instrument_http_app(app: Any) -> None:
    """Adds a server span per request to a FastAPI app (before it serves); nothing when tracing is off."""
    if _provider is not None:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        FastAPIInstrumentor.instrument_app(app, tracer_provider=_provider, excluded_urls=_EXCLUDED_HTTP_URLS)


def temporal_interceptors() -> list[Any]:
    """The interceptors (TracingInterceptor) a worker or a client that starts workflows adds: none when tracing is off."""
    if _provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(_provider.get_tracer("cxflow.temporal"))]


def traced_client(client: temporalio.client.Client) -> temporalio.client.Client:
    """The same Temporal connection, with spans for the workflows it starts (and their context in the workflow headers,
    so the worker continues the trace); the client itself when tracing is off."""
    interceptors = temporal_interceptors()
    if not interceptors:
        return client
    import temporalio.client

    config = client.config()
    config["interceptors"] = [*config.get("interceptors", []), *interceptors]
    return temporalio.client.Client(**config)


def shutdown_tracing() -> None:
    """Sends the spans still buffered and removes the instrumentation (a stopping process, or a test's end)."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer

    GrpcAioInstrumentorServer().uninstrument()
    GrpcAioInstrumentorClient().uninstrument()
    _provider.shutdown()
    _provider = None
