"""The Prometheus metrics every service exports at `GET /metrics` (prometheus-client).

Everything is counted where it happens at the cost of one counter or histogram observation:
HTTP requests by route template (`HttpMetricsMiddleware`), events published, handled,
failed, redelivered and set aside (the publisher and the listener). What has to be asked of
NATS or the database - consumer lag, stream usage, the outbox backlog, the service's own
gauges - is asked when Prometheus scrapes (`Observer`), at most once per `min_interval`,
within a time limit: an unreachable dependency keeps its last values and is logged.

Every series carries the `service` it comes from, so that a process running several
services (a test) still tells them apart. Metric names are `ticketing_*`; the dashboard and
the alerts in `infra/monitoring/` use them (a test checks each name is exported).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "ticketing_http_requests",
    "HTTP requests answered, by route template, method and status",
    ["service", "route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "ticketing_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method",
    ["service", "route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

EVENTS_PUBLISHED = Counter(
    "ticketing_events_published", "Events stored in the stream, by subject", ["service", "subject"]
)
EVENTS_PUBLISH_FAILED = Counter(
    "ticketing_events_publish_failures",
    "Publishes JetStream did not confirm (the event is kept and published again)",
    ["service", "subject"],
)
EVENTS_HANDLED = Counter(
    "ticketing_events_handled", "Events applied and acked, by subject", ["service", "subject"]
)
EVENTS_FAILED = Counter(
    "ticketing_events_failed",
    "Deliveries whose handler failed (retried later), by subject",
    ["service", "subject"],
)
EVENTS_REDELIVERED = Counter(
    "ticketing_events_redelivered",
    "Deliveries of an event received before, by subject",
    ["service", "subject"],
)
EVENTS_DEAD_LETTERED = Counter(
    "ticketing_events_dead_lettered",
    "Events set aside to the dead-letter stream, by subject and reason",
    ["service", "subject", "reason"],
)
HANDLER_DURATION = Histogram(
    "ticketing_event_handler_duration_seconds",
    "Time a listener takes to apply an event, by subject",
    ["service", "subject"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

CONSUMER_PENDING = Gauge(
    "ticketing_consumer_pending_messages",
    "Events in the stream not yet delivered to a durable consumer",
    ["service", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "ticketing_consumer_ack_pending_messages",
    "Events delivered to a durable consumer and not yet acked",
    ["service", "consumer"],
)
STREAM_BYTES = Gauge(
    "ticketing_stream_bytes", "Bytes a JetStream stream holds", ["service", "stream"]
)
STREAM_MAX_BYTES = Gauge(
    "ticketing_stream_max_bytes", "A JetStream stream's size limit", ["service", "stream"]
)
STREAM_MESSAGES = Gauge(
    "ticketing_stream_messages",
    "Messages a JetStream stream holds (in TICKETING_DEAD: the dead letters)",
    ["service", "stream"],
)

OUTBOX_PENDING = Gauge(
    "ticketing_outbox_pending_documents",
    "Documents holding events not yet published",
    ["service", "collection"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "ticketing_outbox_oldest_pending_age_seconds",
    "Age of the oldest unpublished event (0 when none)",
    ["service", "collection"],
)

SCRAPE_ERRORS = Counter(
    "ticketing_metrics_observation_failures",
    "Scrapes at which a dependency (NATS, the database, Redis) did not answer",
    ["service", "source"],
)


def route_templates(routes: Sequence[BaseRoute]) -> dict[int, str]:
    """The full path template of each route (by the route's id). FastAPI keeps an included
    router's routes with paths relative to their prefix (`/{id}` under `/api/tickets`); its
    route contexts give the whole template (`/api/tickets/{id}`)."""
    templates = {}
    for context in iter_route_contexts(routes):
        template = context.path_format or context.path
        if template is not None:
            templates[id(context.original_route)] = template
    return templates


RequestSeries = tuple[Counter, Histogram]
"""The request counter and duration histogram of one (route template, method, status)."""

SERIES_KEPT = 1024
"""How many (route, method, status) series the middleware keeps at hand; beyond that (only
odd methods could get there) each answer looks its series up as it comes."""


class HttpMetricsMiddleware:
    """Counts every HTTP answer by route template (`/api/tickets/{id}`, never the raw path;
    `unmatched` for a path no route has), method and status, and observes its duration.

    Per request it costs a clock read, the status and two observations: the series of each
    (route, method, status) is looked up in prometheus-client once and kept."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service
        self._templates: dict[int, str] | None = None
        """Built at the first request, once every route is in place."""
        self._series: dict[tuple[int, str, int], RequestSeries] = {}

    def template(self, route: object | None) -> str:
        if route is None:
            return "unmatched"
        known = (self._templates or {}).get(id(route))
        return known or getattr(route, "path", "") or "unmatched"

    def series(self, route: object | None, method: str, status: int) -> RequestSeries:
        key = (id(route), method, status)
        found = self._series.get(key)
        if found is None:
            template = self.template(route)
            found = (
                HTTP_REQUESTS.labels(self.service, template, method, str(status)),
                HTTP_DURATION.labels(self.service, template, method),
            )
            if len(self._series) < SERIES_KEPT:
                self._series[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._templates is None:
            self._templates = route_templates(scope["app"].routes)
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            requests, duration = self.series(scope.get("route"), scope["method"], status)
            requests.inc()
            duration.observe(time.perf_counter() - started)


Observation = Callable[[], Awaitable[None]]
"""Brings some gauges up to date (asks NATS, the database or Redis)."""


class Observer:
    """Runs the service's observations before a scrape: each within `timeout` seconds, all at
    most once per `min_interval` (several Prometheus servers, or a refresh, cost nothing)."""

    def __init__(
        self,
        service: str,
        observations: Sequence[tuple[str, Observation]] = (),
        *,
        timeout: float = 2.0,
        min_interval: float = 1.0,
    ) -> None:
        self.service = service
        self.observations = list(observations)
        self.timeout = timeout
        self.min_interval = min_interval
        self._last = -float("inf")
        self._lock = asyncio.Lock()

    def add(self, source: str, observation: Observation) -> None:
        self.observations.append((source, observation))

    async def observe(self) -> None:
        async with self._lock:
            now = time.monotonic()
            if now - self._last < self.min_interval:
                return
            self._last = now
            await asyncio.gather(*(self._one(s, o) for s, o in self.observations))

    async def _one(self, source: str, observation: Observation) -> None:
        try:
            await asyncio.wait_for(observation(), timeout=self.timeout)
        except Exception as error:
            SCRAPE_ERRORS.labels(self.service, source).inc()
            logger.warning("metrics: %s did not answer: %s", source, error or type(error).__name__)


def metrics_router(observer: Callable[[], Observer | None]) -> APIRouter:
    """`GET /metrics` in Prometheus' text format (not in the API documents, not routed by the
    ingress)."""
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        running = observer()
        if running is not None:
            await running.observe()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return router
