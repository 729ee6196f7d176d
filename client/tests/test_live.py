"""Live pages' event streams (Server-Sent Events) against a real NATS server, the client served
by uvicorn (a stream needs a real server: an in-process transport buffers whole answers)."""

from __future__ import annotations

import asyncio
import contextlib
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
from nats.js.api import ConsumerInfo

from client import fanout
from client.app import service as client_service
from client.dependencies import ClientDependencies
from client.live import LIVE_SUBJECTS, LiveFeed, ticket_state
from client.settings import ClientSettings
from common.events.publisher import JetStreamPublisher
from common.events.schemas import Event, TicketCreated, TicketUpdated
from common.events.stream import STREAM_NAME, connect_nats, ensure_stream
from common.events.subjects import Subjects
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
Consumers = Callable[[], Awaitable[list[ConsumerInfo]]]


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
async def consumers(nats_server: NatsServer) -> AsyncIterator[Consumers]:
    """The consumers of the stream, as the JetStream cluster lists them."""
    nc = await connect_nats(nats_server.url, "live-tests-consumers")
    js = nc.jetstream()

    async def listing() -> list[ConsumerInfo]:
        return await js.consumers_info(STREAM_NAME)

    yield listing
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


async def sse_events(response: httpx.Response, count: int) -> list[Sse]:
    """Read `count` events from an open stream (within 10 s)."""
    got: list[Sse] = []
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
    return got


async def read_events(
    http: httpx.AsyncClient,
    url: str,
    count: int,
    *,
    headers: dict[str, str] | None = None,
    then: Callable[[], Awaitable[None]] | None = None,
) -> tuple[httpx.Response, list[Sse]]:
    """Open the stream, run `then` (e.g. publish), and read `count` events from it."""
    async with http.stream("GET", url, headers=headers) as response:
        if response.status_code != 200:
            await response.aread()
            return response, []
        if then is not None:
            await then()
        return response, await sse_events(response, count)


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


def ticket_ids(count: int, start: int = 0) -> list[str]:
    return [f"6560f0c2a1b2c3d4e5f6{n:04d}" for n in range(start, start + count)]


async def fanned_out(feed: LiveFeed, sequence: int) -> None:
    """Wait until the replica's consumer has fanned out the event `sequence`."""
    for _ in range(200):
        if feed.fanout is not None and feed.fanout.last >= sequence:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"event {sequence} was not fanned out")


async def test_many_open_pages_cost_the_replica_one_consumer(
    site: httpx.AsyncClient, publish: Publish, consumers: Consumers
) -> None:
    after = await position(site, "/")
    async with contextlib.AsyncExitStack() as pages:
        streams = [
            await pages.enter_async_context(site.stream("GET", f"/events/tickets?after={after}"))
            for _ in range(20)
        ]
        assert [stream.status_code for stream in streams] == [200] * 20
        await publish(created(TICKET))
        received = await asyncio.gather(*(sse_events(stream, 1) for stream in streams))
        listed = await consumers()

    expected = [(after + 1, "ticket", {"id": TICKET, "state": "for-sale"})]
    assert all([(e.id, e.event, e.data) for e in got] == expected for got in received)
    assert len(listed) == 1, "one consumer for the replica, not one per open page"
    assert sorted(listed[0].config.filter_subjects or []) == sorted(s.value for s in LIVE_SUBJECTS)


async def test_a_page_resuming_within_the_replicas_buffer_needs_no_consumer_of_its_own(
    site: httpx.AsyncClient, publish: Publish, consumers: Consumers
) -> None:
    after = await position(site, "/")
    await publish(created(TICKET), created(OTHER), updated(TICKET, ORDER))
    replicas = [consumer.name for consumer in await consumers()]
    assert len(replicas) == 1, "the replica's consumer, started before any page"

    async def later() -> None:
        await publish(order_cancelled(ORDER), updated(TICKET, None, 2))
        assert [consumer.name for consumer in await consumers()] == replicas

    _, events = await read_events(
        site,
        f"/events/tickets?after={after}",
        3,
        headers={"Last-Event-ID": str(after + 1)},
        then=later,
    )

    assert [(e.id, e.data["id"], e.data["state"]) for e in events] == [
        (after + 2, OTHER, "for-sale"),
        (after + 3, TICKET, "reserved"),
        (after + 5, TICKET, "for-sale"),
    ]
    assert [consumer.name for consumer in await consumers()] == replicas


@pytest.fixture
def small_buffer(monkeypatch: pytest.MonkeyPatch) -> int:
    """The replica keeps only its last 3 events (set before `site` starts its feed)."""
    monkeypatch.setattr(fanout, "BUFFERED_EVENTS", 3)
    return 3


async def test_a_page_resuming_from_before_the_buffer_reads_the_stream_then_the_fan_out(
    small_buffer: int, site: httpx.AsyncClient, publish: Publish, live_feed: list[LiveFeed]
) -> None:
    after = await position(site, "/")
    first, later = ticket_ids(8), ticket_ids(4, start=8)
    await publish(created(first[0]), order_cancelled(ORDER), *(created(t) for t in first[1:]))
    await fanned_out(live_feed[0], after + 9)
    feed_fanout = live_feed[0].fanout
    assert feed_fanout is not None
    assert feed_fanout.covered_after == after + 9 - small_buffer, "older events left the buffer"

    async def more() -> None:  # while the page catches up, or after: each once either way
        await publish(*(created(t) for t in later))

    _, events = await read_events(site, f"/events/tickets?after={after}", 12, then=more)

    sequences = [after + 1, *range(after + 3, after + 14)]
    assert [(e.id, e.data["id"]) for e in events] == list(
        zip(sequences, first + later, strict=True)
    )


@pytest.fixture
async def published_before_start(publish: Publish) -> list[str]:
    """Tickets put on sale before the client starts (requested before `site`)."""
    tickets = ticket_ids(3)
    await publish(*(created(t) for t in tickets))
    return tickets


async def test_a_page_resuming_from_before_the_replica_started_reads_the_stream_first(
    published_before_start: list[str], site: httpx.AsyncClient, publish: Publish
) -> None:
    later = ticket_ids(2, start=3)
    assert await position(site, "/") == 3

    async def more() -> None:
        await publish(*(created(t) for t in later))

    _, events = await read_events(
        site, "/events/tickets", 4, headers={"Last-Event-ID": "1"}, then=more
    )

    assert [(e.id, e.data["id"]) for e in events] == list(
        zip(range(2, 6), published_before_start[1:] + later, strict=True)
    )


async def test_a_page_that_falls_behind_is_dropped_without_holding_the_others_back(
    site: httpx.AsyncClient,
    publish: Publish,
    live_feed: list[LiveFeed],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A page whose queue fills is dropped; its stream ends with what it held, so its
    browser reconnects from there. The other pages go on receiving."""
    monkeypatch.setattr(fanout, "PAGE_QUEUE_SIZE", 3)
    feed = live_feed[0]
    after = await position(site, "/")
    slow = feed.stream([Subjects.TICKET_CREATED], ticket_state, after)
    quick = feed.stream([Subjects.TICKET_CREATED], ticket_state, after)
    assert await anext(slow) == await anext(quick) == "retry: 2000\n\n"  # both subscribed

    tickets = ticket_ids(8)
    for ticket in tickets:  # the quick page reads each event; the slow page none
        await publish(created(ticket))
        text = await asyncio.wait_for(anext(quick), 10)
        assert text.startswith("id: ")
        assert ticket in text

    async def held_by_slow() -> list[str]:
        return [text async for text in slow]

    held = await asyncio.wait_for(held_by_slow(), 10)  # ends instead of waiting for more
    await quick.aclose()

    assert [int(text.split("\n")[0].removeprefix("id: ")) for text in held] == [
        after + 1,
        after + 2,
        after + 3,
    ]
    _, resumed = await read_events(
        site, "/events/tickets", 5, headers={"Last-Event-ID": str(after + 3)}
    )
    assert [(e.id, e.data["id"]) for e in resumed] == list(
        zip(range(after + 4, after + 9), tickets[3:], strict=True)
    )


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
