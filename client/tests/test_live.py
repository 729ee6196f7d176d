"""Live pages' event streams (Server-Sent Events) against a real NATS server, the client served
by uvicorn (a stream needs a real server: an in-process transport buffers whole answers)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import uvicorn

from client.app import service as client_service
from client.dependencies import ClientDependencies
from client.live import LiveFeed
from client.settings import ClientSettings
from common.events.publisher import JetStreamPublisher
from common.events.schemas import Event, TicketCreated, TicketUpdated
from common.events.stream import connect_nats, ensure_stream
from common.session import COOKIE_NAME
from testsupport.events import order_cancelled, order_completed
from testsupport.servers import NatsServer, ServiceProcess, eventually, free_port

from .conftest import API, USER, make_order, make_ticket

TICKET = "6560f0c2a1b2c3d4e5f60001"
OTHER = "6560f0c2a1b2c3d4e5f60002"
ORDER = "6560f0c2a1b2c3d4e5f6aaaa"


def created(ticket_id: str) -> TicketCreated:
    return TicketCreated(id=ticket_id, version=0, title="Jazz", price=20, user_id="u" * 24)


def updated(ticket_id: str, order_id: str | None, version: int = 1) -> TicketUpdated:
    return TicketUpdated(
        id=ticket_id, version=version, title="Jazz", price=20, user_id="u" * 24, order_id=order_id
    )


Publish = Callable[..., Awaitable[None]]


def dependencies_of_app(app: Any) -> ClientDependencies:
    dependencies = app.state.dependencies
    assert isinstance(dependencies, ClientDependencies)
    return dependencies


@pytest.fixture
async def publish(nats_server: NatsServer) -> AsyncIterator[Publish]:
    """Publish events to the stream, as the services do."""
    nc = await connect_nats(nats_server.url, "live-tests")
    js = nc.jetstream()
    await ensure_stream(js)
    publisher = JetStreamPublisher(nc, js)

    async def send(*events: Event) -> None:
        for event in events:
            await publisher.publish(event.subject, event.to_wire(), msg_id=uuid.uuid4().hex)

    yield send
    await nc.close()


@pytest.fixture
def live_feed() -> list[LiveFeed]:
    """The served client's live feed (filled in by `site`)."""
    return []


@pytest.fixture
async def site(
    nats_server: NatsServer,
    jwt_key: str,
    api: respx.MockRouter,
    publish: Publish,
    live_feed: list[LiveFeed],
) -> AsyncIterator[httpx.AsyncClient]:
    """The client with NATS, served on a port of its own; an HTTP client of it."""
    settings = ClientSettings(
        JWT_KEY=jwt_key, API_BASE_URL=API, NATS_URL=nats_server.url, STRIPE_PUBLISHABLE_KEY=None
    )
    app = client_service(transport=httpx.MockTransport(api.async_handler)).create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  # uvicorn offers no event to wait on
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        api.get("/api/tickets").respond(200, json=[])
        # Live once the client has reached NATS: the landing page then names its stream.
        for _ in range(200):
            if "data-live=" in (await http.get("/")).text:
                break
            await asyncio.sleep(0.05)
        live_feed.append(dependencies_of_app(app).live)
        yield http
    server.should_exit = True
    await asyncio.wait_for(serving, 10)


async def create_stream(nats_url: str) -> None:
    nc = await connect_nats(nats_url, "live-tests")
    await ensure_stream(nc.jetstream())
    await nc.close()


@dataclass
class Sse:
    id: int | None
    event: str
    data: dict[str, Any]


async def read_events(
    http: httpx.AsyncClient,
    url: str,
    count: int,
    *,
    headers: dict[str, str] | None = None,
    then: Callable[[], Awaitable[None]] | None = None,
) -> tuple[httpx.Response, list[Sse]]:
    """Open the stream, run `then` (e.g. publish), and read `count` events from it."""
    got: list[Sse] = []
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return response, got
        if then is not None:
            await then()
        fields: dict[str, str] = {}

        async def collect() -> None:
            async for line in response.aiter_lines():
                if line == "":
                    if "event" in fields:
                        event_id = int(fields["id"]) if "id" in fields else None
                        got.append(Sse(event_id, fields["event"], json.loads(fields["data"])))
                        if len(got) == count:
                            return
                    fields.clear()
                elif not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value

        await asyncio.wait_for(collect(), 10)
    return response, got


async def position(http: httpx.AsyncClient, page: str) -> int:
    match = re.search(r'data-live="[^"?]+\?after=(\d+)"', (await http.get(page)).text)
    assert match, f"{page} names no live stream"
    return int(match.group(1))


async def test_the_landing_stream_tells_of_new_and_reserved_tickets(
    site: httpx.AsyncClient, publish: Publish
) -> None:
    after = await position(site, "/")

    async def changes() -> None:
        await publish(created(TICKET), order_cancelled(ORDER), updated(TICKET, ORDER))

    response, events = await read_events(site, f"/events/tickets?after={after}", 2, then=changes)

    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["cache-control"] == "no-store"
    assert [(e.event, e.data) for e in events] == [
        ("ticket", {"id": TICKET, "state": "for-sale"}),
        ("ticket", {"id": TICKET, "state": "reserved"}),
    ]
    assert [e.id for e in events] == [after + 1, after + 3], "ids are stream sequences"


async def test_a_reconnecting_browser_resumes_after_its_last_event_id(
    site: httpx.AsyncClient, publish: Publish
) -> None:
    after = await position(site, "/")
    await publish(created(TICKET), created(OTHER), updated(TICKET, ORDER))

    _, events = await read_events(
        site, f"/events/tickets?after={after}", 2, headers={"Last-Event-ID": str(after + 1)}
    )

    assert [(e.id, e.data["id"], e.data["state"]) for e in events] == [
        (after + 2, OTHER, "for-sale"),
        (after + 3, TICKET, "reserved"),
    ]


async def test_a_ticket_stream_tells_only_of_that_ticket(
    site: httpx.AsyncClient, api: respx.MockRouter, publish: Publish
) -> None:
    api.get(f"/api/tickets/{TICKET}").respond(200, json=make_ticket(id=TICKET))
    after = await position(site, f"/tickets/{TICKET}")

    async def changes() -> None:
        await publish(updated(OTHER, ORDER), updated(TICKET, ORDER), updated(TICKET, None, 2))

    _, events = await read_events(site, f"/events/tickets/{TICKET}?after={after}", 2, then=changes)

    assert [(e.event, e.data) for e in events] == [
        ("ticket", {"id": TICKET, "state": "reserved"}),
        ("ticket", {"id": TICKET, "state": "for-sale"}),
    ]


async def test_an_order_stream_tells_its_buyer_it_was_paid(
    site: httpx.AsyncClient, api: respx.MockRouter, publish: Publish, session_token: str
) -> None:
    site.cookies.set(COOKIE_NAME, session_token)
    api.get("/api/users/currentuser").respond(200, json={"currentUser": USER})
    api.get(f"/api/orders/{ORDER}").respond(200, json=make_order(id=ORDER))
    after = await position(site, f"/orders/{ORDER}")

    async def changes() -> None:
        await publish(order_cancelled(str(uuid.uuid4().hex[:24])), order_completed(ORDER))

    _, events = await read_events(site, f"/events/orders/{ORDER}?after={after}", 1, then=changes)

    assert [(e.event, e.data) for e in events] == [("order", {"id": ORDER, "state": "paid"})]


async def test_an_order_stream_is_only_for_its_buyer(
    site: httpx.AsyncClient, api: respx.MockRouter, session_token: str
) -> None:
    signed_out = await site.get(f"/events/orders/{ORDER}")
    assert signed_out.status_code == 401
    assert signed_out.json() == {"errors": [{"message": "Not authorized"}]}

    site.cookies.set(COOKIE_NAME, session_token)
    api.get(f"/api/orders/{ORDER}").respond(401, json={"errors": [{"message": "Not authorized"}]})
    someone_elses = await site.get(f"/events/orders/{ORDER}")
    assert someone_elses.status_code == 404
    assert someone_elses.json() == {"errors": [{"message": "Not Found"}]}
    assert (await site.get("/events/orders/not$an$id")).status_code == 404


async def test_a_bad_position_is_refused_in_the_error_shape(site: httpx.AsyncClient) -> None:
    bad_after = await site.get("/events/tickets?after=-1")
    assert bad_after.status_code == 400
    assert bad_after.json() == {
        "errors": [
            {"message": "After must be a stream sequence (a whole number)", "field": "after"}
        ]
    }
    bad_id = await site.get("/events/tickets", headers={"Last-Event-ID": "x1"})
    assert bad_id.status_code == 400
    assert bad_id.json()["errors"][0]["field"] == "Last-Event-ID"


async def test_without_nats_pages_are_plain_and_streams_say_no_content(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    """The `client` fixture's settings name no NATS_URL."""
    api.get("/api/tickets").respond(200, json=[make_ticket()])
    page = await client.get("/")
    assert page.status_code == 200
    assert "data-live=" not in page.text
    assert "Jazz night" in page.text
    stream = await client.get("/events/tickets")
    assert stream.status_code == 204


async def test_open_streams_end_when_the_process_is_asked_to_stop(
    site: httpx.AsyncClient, live_feed: list[LiveFeed]
) -> None:
    """A feed that is `closing` (its process stopping) ends its streams."""
    after = await position(site, "/")
    async with site.stream("GET", f"/events/tickets?after={after}") as response:
        assert response.status_code == 200
        live_feed[0].closing.set()
        body = await asyncio.wait_for(response.aread(), 5)
    assert body.startswith(b"retry: 2000")


def test_a_client_process_with_open_streams_stops_promptly_on_sigterm(
    nats_server: NatsServer, jwt_key: str, tmp_path: Path
) -> None:
    """`python -m client`: SIGTERM with a browser's stream open ends the stream and the
    process within seconds, not after the server's 20 s graceful-shutdown limit."""
    asyncio.run(create_stream(nats_server.url))  # as the services do on the platform
    process = ServiceProcess(
        "client",
        tmp_path,
        {"JWT_KEY": jwt_key, "API_BASE_URL": "http://127.0.0.1:9", "NATS_URL": nats_server.url},
    )
    process.start()
    try:
        with httpx.Client(base_url=process.base_url, timeout=10) as http:

            def streaming() -> bool:
                with http.stream("GET", "/events/tickets") as stream:
                    return stream.status_code == 200  # 204 until NATS is connected

            eventually(streaming, timeout=15)
            with http.stream("GET", "/events/tickets") as stream:
                assert stream.status_code == 200
                started = time.monotonic()
                assert process.process is not None
                process.process.send_signal(signal.SIGTERM)
                stream.read()  # ends when the server ends the stream
                process.process.wait(timeout=15)
                assert time.monotonic() - started < 10
    finally:
        process.stop()
