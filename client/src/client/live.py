"""Live pages: the client's own view of the event stream, sent to browsers as Server-Sent
Events.

Each client process connects to NATS by itself (`NATS_URL`, optional) and gives every open
page a watch of its own (`common.events.watch`: an ordered consumer, not the services' shared
durable ones), so whichever replica a browser reaches, it sees every event. A page is
rendered with the stream's position at that moment (`data-live-after`); its script asks for
the events after it, and the SSE id of each event is its stream sequence, so a browser that
reconnects (sending `Last-Event-ID`) resumes from the stream where it stopped and misses
nothing. The events are reduced to what a page shows: `{"id", "state"}`.

Without NATS (not configured, not reachable yet) pages render without the live attribute and
work as plain pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from common.events.stream import connect_nats
from common.events.subjects import Subjects
from common.events.watch import Watch, position, watch

logger = logging.getLogger(__name__)

KEEP_ALIVE_SECONDS = 15.0
"""A comment line this often keeps an idle stream open through proxies (the ingress's read
timeout is 60 s) and lets the server notice a browser that went away."""
POLL_SECONDS = 1.0
"""How often a stream checks that the process is not shutting down."""
RETRY_MS = 2000
"""How long a browser waits before reconnecting a dropped stream."""
POSITION_TIMEOUT_SECONDS = 1.0
"""A page is not held up for longer than this asking where the stream is."""


@dataclass(frozen=True)
class PageEvent:
    """What a live page is told: an SSE event name and its `{"id", "state"}`."""

    name: str
    data: dict[str, str]


Reduce = Callable[[str, dict[str, Any]], PageEvent | None]
"""Turns a stream event (subject, payload) into what a page is told, or None to skip it."""


def ticket_state(subject: str, data: dict[str, Any]) -> PageEvent | None:
    """ticket:created / ticket:updated → `ticket {id, state: for-sale|reserved}`."""
    if subject not in (Subjects.TICKET_CREATED, Subjects.TICKET_UPDATED):
        return None
    state = "reserved" if data.get("orderId") else "for-sale"
    return PageEvent("ticket", {"id": str(data.get("id")), "state": state})


def order_state(subject: str, data: dict[str, Any]) -> PageEvent | None:
    """order:completed / order:cancelled → `order {id, state: paid|cancelled}`."""
    states = {Subjects.ORDER_COMPLETED.value: "paid", Subjects.ORDER_CANCELLED.value: "cancelled"}
    state = states.get(subject)
    if state is None:
        return None
    return PageEvent("order", {"id": str(data.get("id")), "state": state})


def of_one(reduce: Reduce, entity_id: str) -> Reduce:
    """`reduce`, keeping only the events of the entity `entity_id`."""

    def reduce_one(subject: str, data: dict[str, Any]) -> PageEvent | None:
        return reduce(subject, data) if data.get("id") == entity_id else None

    return reduce_one


def sse(name: str, data: dict[str, Any], event_id: int | None = None) -> str:
    lines = [f"id: {event_id}"] if event_id is not None else []
    lines += [f"event: {name}", f"data: {json.dumps(data, separators=(',', ':'))}"]
    return "\n".join(lines) + "\n\n"


class LiveFeed:
    """The client process's connection to the event stream (when `NATS_URL` is set)."""

    def __init__(self, nats_url: str | None, client_id: str) -> None:
        self.nats_url = nats_url
        self.client_id = client_id
        self.js: JetStreamContext | None = None
        self.closing = asyncio.Event()
        """Set when the process stops: open streams end (uvicorn's shutdown also ends them
        by telling the app that their browsers left)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (waiting for NATS as long as it takes) and stay connected until `stop`."""
        if self.nats_url is None:
            return
        connecting = asyncio.create_task(connect_nats(self.nats_url, self.client_id))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            return
        stopping.cancel()
        nc: NatsClient = connecting.result()
        self.js = nc.jetstream()
        try:
            await stop.wait()
        finally:
            self.closing.set()
            self.js = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), timeout=5)

    async def position(self) -> int | None:
        """The stream's last sequence, where a page rendered now starts watching; None when
        live updates are unavailable (the page is then a plain page)."""
        js = self.js
        if js is None:
            return None
        try:
            return (await asyncio.wait_for(position(js), POSITION_TIMEOUT_SECONDS)).last
        except Exception as error:
            logger.warning("live updates unavailable: %r", error)
            return None

    async def stream(
        self, subjects: list[Subjects], reduce: Reduce, after: int | None
    ) -> AsyncIterator[str]:
        """The SSE text of a page's live events after the stream sequence `after`, with a
        keep-alive comment when idle, until the browser leaves or the process stops."""
        js = self.js
        if js is None:
            return
        yield f"retry: {RETRY_MS}\n\n"
        if after is not None:
            oldest = (await position(js)).first
            if oldest > after + 1:
                # Events after `after` are gone from the stream (its retention): the page
                # must load afresh rather than trust an incomplete history.
                yield sse("resync", {}, oldest - 1)
                after = oldest - 1
        async with watch(js, subjects, after) as events:
            async for text in self._relay(events, reduce):
                yield text

    async def _relay(self, events: Watch, reduce: Reduce) -> AsyncIterator[str]:
        quiet_since = time.monotonic()
        while not self.closing.is_set():
            event = await events.next(within=POLL_SECONDS)
            if event is not None:
                shown = reduce(event.subject, event.data)
                if shown is not None:
                    yield sse(shown.name, shown.data, event.sequence)
                    quiet_since = time.monotonic()
                    continue
            if time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
                yield ": keep-alive\n\n"
                quiet_since = time.monotonic()
