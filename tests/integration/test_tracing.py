"""One purchase is one trace: the order's request in orders, and the reactions to its
order:created in tickets, expiration and payments, joined by the W3C trace context the
events carry in their NATS headers. The four services run in this process, over real NATS,
MongoDB and Redis, their spans recorded by an in-memory exporter."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack

import pytest
from httpx import AsyncClient, Response
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from common.observability.tracing import SERVICE_ATTRIBUTE
from expiration.app import create_app as create_expiration
from expiration.settings import ExpirationSettings
from orders.app import SERVICE as ORDERS
from orders.settings import OrdersSettings
from payments.app import SERVICE as PAYMENTS
from payments.settings import PaymentsSettings
from testsupport.apps import serving
from testsupport.servers import NatsServer, RedisServer, wait_until
from tickets.app import SERVICE as TICKETS
from tickets.settings import TicketsSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans recorded in this process (the tracer provider is the process's, set once)."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # stops recording into it
    exporter.clear()


@pytest.fixture
async def platform(
    spans: InMemorySpanExporter,
    nats_server: NatsServer,
    mongo_server_url: str,
    redis_server: RedisServer,
    jwt_key: str,
) -> AsyncIterator[dict[str, AsyncClient]]:
    """tickets, orders, expiration and payments, each on a database of its own."""

    def db(name: str) -> str:
        return f"{mongo_server_url}/trace_{name}_{uuid.uuid4().hex[:8]}"

    nats_url = nats_server.url
    apps = {
        "tickets": TICKETS.create_app(
            TicketsSettings(JWT_KEY=jwt_key, MONGO_URI=db("tickets"), NATS_URL=nats_url)
        ),
        "orders": ORDERS.create_app(
            OrdersSettings(JWT_KEY=jwt_key, MONGO_URI=db("orders"), NATS_URL=nats_url)
        ),
        "expiration": create_expiration(
            ExpirationSettings(NATS_URL=nats_url, REDIS_URL=redis_server.url)
        ),
        "payments": PAYMENTS.create_app(
            PaymentsSettings(
                JWT_KEY=jwt_key,
                MONGO_URI=db("payments"),
                NATS_URL=nats_url,
                STRIPE_KEY="sk_test_tracing",
                STRIPE_API_BASE="http://127.0.0.1:9",
            )
        ),
    }
    async with AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            clients[name] = await stack.enter_async_context(serving(app))
        yield clients


def scheduled(metrics: Response) -> float:
    for line in metrics.text.splitlines():
        if line.startswith("ticketing_expiration_jobs_scheduled_total "):
            return float(line.split()[1])
    return 0.0


def of_service(spans: list[ReadableSpan], service: str) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get(SERVICE_ATTRIBUTE) == service]


async def test_one_purchase_is_one_connected_trace_across_four_services(
    platform: dict[str, AsyncClient],
    spans: InMemorySpanExporter,
    auth: Callable[..., dict[str, str]],
) -> None:
    seller, buyer = auth(), auth()
    scheduled_before = scheduled(await platform["expiration"].get("/metrics"))
    listed = await platform["tickets"].post(
        "/api/tickets", json={"title": "gig", "price": 20}, headers=seller
    )
    assert listed.status_code == 201, listed.text
    ticket_id = listed.json()["id"]

    async def order() -> int:
        response = await platform["orders"].post(
            "/api/orders", json={"ticketId": ticket_id}, headers=buyer
        )
        return response.status_code

    status = await order()
    for _ in range(100):  # until orders has heard of the ticket
        if status != 404:
            break
        await asyncio.sleep(0.1)
        status = await order()
    assert status == 201

    # The last request to POST /api/orders is the one answered 201 (the others, 404).
    request = [
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.SERVER and s.name == "POST /api/orders"
    ][-1]
    trace_id = request.context.trace_id

    def in_trace() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]

    def reacted(service: str, subject: str) -> bool:
        return any(
            s.kind is SpanKind.CONSUMER and s.name == f"{subject} process"
            for s in of_service(in_trace(), service)
        )

    await wait_until(
        lambda: (
            reacted("tickets", "order:created")
            and reacted("expiration", "order:created")
            and reacted("payments", "order:created")
            and reacted("orders", "ticket:updated")
        ),
        within=30,
    )
    joined = in_trace()
    assert {(s.attributes or {}).get(SERVICE_ATTRIBUTE) for s in joined} >= {
        "orders",
        "tickets",
        "expiration",
        "payments",
    }
    # Connected: the request is the one root, every other span's parent is in the trace.
    ids = {s.context.span_id for s in joined}
    assert [s for s in joined if s.parent is None] == [request]
    for span in joined:
        if span is not request:
            assert span.parent is not None, span.name
            assert span.parent.span_id in ids, span.name
    published = [s for s in of_service(joined, "orders") if s.name == "order:created publish"]
    assert published
    assert published[0].kind is SpanKind.PRODUCER
    consumers = [s for s in joined if s.name == "order:created process"]
    # The worker's /metrics counts the job it scheduled for the order.
    assert scheduled(await platform["expiration"].get("/metrics")) == scheduled_before + 1
    assert {c.parent.span_id for c in consumers if c.parent} == {published[0].context.span_id}
