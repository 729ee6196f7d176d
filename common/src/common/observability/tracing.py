"""Traces across services: W3C trace context (`traceparent`) in NATS message headers.

The publisher injects the current context into each event's headers; a listener continues
the trace of the event it handles, so a purchase - the order's request, then the reactions of
tickets, expiration and payments - is one trace. Propagation goes through the OpenTelemetry
API alone, and costs next to nothing: without an SDK tracer provider, spans are not recorded
and nothing is exported.

A process records and exports spans when the standard `OTEL_*` variables ask for it
(`configure_tracing`): `OTEL_TRACES_EXPORTER` (`otlp`, `console` or `none`), or an OTLP
endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, then `otlp`
is the default), unless `OTEL_SDK_DISABLED=true`. `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER` and `OTEL_BSP_*` are read by the SDK.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from fastapi import FastAPI
from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, SpanKind

SERVICE_ATTRIBUTE = "ticketing.service"
"""Set on every span the services make: which service made it (also the resource's
`service.name` when a process exports its own spans)."""

TRACER_NAME = "ticketing"


def exporters_wanted(env: Mapping[str, str] | None = None) -> list[str]:
    """The span exporters the `OTEL_*` variables ask for (none when unset)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if not names:
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    return [n.strip() for n in names.split(",") if n.strip() and n.strip() != "none"]


def _exporter(name: str) -> SpanExporter:
    if name == "otlp":
        # Imported only when asked for: the exporter and its protobuf cost nothing otherwise.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    raise ValueError(f"OTEL_TRACES_EXPORTER: unknown exporter {name!r} (otlp, console, none)")


def configure_tracing(service: str, env: Mapping[str, str] | None = None) -> bool:
    """Record and export this process's spans if the `OTEL_*` variables ask for it; whether
    they do."""
    names = exporters_wanted(env)
    if not names:
        return False
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}))
    for name in names:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name)))
    trace.set_tracer_provider(provider)
    return True


def recording() -> bool:
    """Whether spans are recorded in this process (an SDK tracer provider is installed)."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def instrument_app(app: FastAPI, service: str) -> None:
    """A server span per request (named by route template), if spans are recorded."""
    if not recording():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def name_service(span: Span, _: object) -> None:
        if span.is_recording():
            span.set_attribute(SERVICE_ATTRIBUTE, service)

    FastAPIInstrumentor.instrument_app(
        app, server_request_hook=name_service, excluded_urls="/healthz,/readyz,/metrics"
    )


_tracer = trace.get_tracer(TRACER_NAME)
"""A proxy until a provider is installed, then that provider's tracer."""


def tracer() -> trace.Tracer:
    return _tracer


def trace_headers() -> dict[str, str]:
    """The current trace context as headers (empty outside a trace), to keep with an event
    published later (`continuing`)."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


@contextlib.contextmanager
def continuing(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Work done in the trace `headers` carry (from `trace_headers`), if any."""
    if not headers:
        yield
        return
    token = context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        context.detach(token)


@contextlib.contextmanager
def publishing(service: str, subject: str, headers: dict[str, str]) -> Iterator[None]:
    """A producer span for publishing `subject`, its context injected into `headers`."""
    with tracer().start_as_current_span(
        f"{subject} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            SERVICE_ATTRIBUTE: service,
            "messaging.system": "nats",
            "messaging.destination.name": subject,
        },
    ):
        propagate.inject(headers)
        yield


@contextlib.contextmanager
def handling(
    service: str, subject: str, headers: Mapping[str, str] | None, event_id: str | None
) -> Iterator[Span]:
    """A consumer span for handling an event, continuing the trace its headers carry."""
    parent = propagate.extract(headers) if headers else context.get_current()
    attributes = {
        SERVICE_ATTRIBUTE: service,
        "messaging.system": "nats",
        "messaging.destination.name": subject,
    }
    if event_id:
        attributes["messaging.message.id"] = event_id
    with tracer().start_as_current_span(
        f"{subject} process", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def current_trace_id() -> str | None:
    """The current trace's id in hex (for log lines), if there is one."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
