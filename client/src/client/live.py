"""Live pages: the client's own view of the event stream, sent to browsers as Server-Sent
Events.

Each client process connects to NATS by itself (`NATS_URL`, optional) and follows the
stream with one ordered consumer of its own (`common.events.watch`; not the services' shared
durable ones, so whichever replica a browser reaches, it sees every event), started at the
stream's position when the process starts. What it receives is fanned out in memory to the
open pages (`client.fanout`), so a replica costs the JetStream cluster one consumer however
many pages are open.

A page is rendered with the stream's position at that moment (`data-live-after`); its script
asks for the events after it, and the SSE id of each event is its stream sequence, so a
browser that reconnects (sending `Last-Event-ID`) resumes where it stopped and misses
nothing: from the replica's buffer of recent events when it reaches back that far, else
from a short read of the stream of its own up to where the buffer starts. The events are
reduced to what a page shows: `{"id", "state"}`.

Without NATS (not configured, not reachable yet, no stream yet) pages render without the
live attribute and work as plain pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from client.fanout import CatchUp, Fanout, Subscription
from common.events.stream import connect_nats
from common.events.subjects import Subjects
from common.events.watch import StreamEvent, position, watch

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
RETRY_SECONDS = 1.0
"""How long the replica waits before trying again to follow the stream (not there yet)."""
LIVE_SUBJECTS = [
    Subjects.TICKET_CREATED,
    Subjects.TICKET_UPDATED,
    Subjects.ORDER_COMPLETED,
    Subjects.ORDER_CANCELLED,
]
"""Every subject a live page tells of: what the replica's consumer receives."""


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
    """The client process's connection to the event stream (when `NATS_URL` is set): its
    consumer, and the fan-out of what it receives to the open pages."""

    def __init__(self, nats_url: str | None, client_id: str) -> None:
        self.nats_url = nats_url
        self.client_id = client_id
        self.js: JetStreamContext | None = None
        self.fanout: Fanout | None = None
        """Set while the replica's consumer runs: live pages are available."""
        self.closing = asyncio.Event()
        """Set when the process is asked to stop (SIGTERM, SIGINT) or stops: open streams
        end, so that the server's graceful shutdown, which waits for open responses, is not
        held up by browsers that would never hang up (they reconnect elsewhere and resume)."""

    @property
    def available(self) -> bool:
        return self.js is not None and self.fanout is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Connect (waiting for NATS as long as it takes) and follow the stream until `stop`."""
        if self.nats_url is None:
            return
        self._end_streams_on_exit_signals()
        connecting = asyncio.create_task(connect_nats(self.nats_url, self.client_id))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not connecting.done():
            connecting.cancel()
            return
        stopping.cancel()
        nc: NatsClient = connecting.result()
        try:
            await self._follow(nc.jetstream(), stop)
        finally:
            self.closing.set()
            self.js = None
            self.fanout = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(nc.close(), timeout=5)

    def _end_streams_on_exit_signals(self) -> None:
        """Chain the server's SIGTERM/SIGINT handlers: the streams are told to end, then the
        server shuts down as it would have."""
        if threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            if not callable(previous):
                continue

            def handler(
                signum: int,
                frame: FrameType | None,
                previous: Callable[[int, FrameType | None], Any] = previous,
            ) -> None:
                loop.call_soon_threadsafe(self.closing.set)
                previous(signum, frame)

            signal.signal(sig, handler)

    async def _follow(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """The replica's consumer, from the stream's position now, fanned out until `stop`;
        started again (with a new fan-out, whose pages end and resume) if it fails."""
        while not stop.is_set():
            fanout: Fanout | None = None
            try:
                start = (await position(js)).last
                async with watch(js, LIVE_SUBJECTS, start) as events:
                    fanout = Fanout(start)
                    self.js, self.fanout = js, fanout
                    while not stop.is_set():
                        event = await events.next(within=POLL_SECONDS)
                        if event is not None:
                            fanout.publish(event)
                return
            except Exception as error:  # no stream yet, NATS gone for now: try again
                logger.warning("live updates unavailable: %r", error)
            finally:
                self.js = self.fanout = None
                if fanout is not None:
                    fanout.closed = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

    async def position(self) -> int | None:
        """The stream's last sequence, where a page rendered now starts watching; None when
        live updates are unavailable (the page is then a plain page)."""
        js = self.js
        if js is None or self.fanout is None:
            return None
        try:
            return (await asyncio.wait_for(position(js), POSITION_TIMEOUT_SECONDS)).last
        except Exception as error:
            logger.warning("live updates unavailable: %r", error)
            return None

    async def stream(
        self, subjects: list[Subjects], reduce: Reduce, after: int | None
    ) -> AsyncGenerator[str, None]:
        """The SSE text of a page's live events after the stream sequence `after` (each once,
        in stream order), with a keep-alive comment when idle, until the browser leaves, the
        process stops or the page falls too far behind (its browser then resumes)."""
        js, fanout = self.js, self.fanout
        if js is None or fanout is None:
            return
        wanted = {subject.value for subject in subjects}

        def select(event: StreamEvent) -> PageEvent | None:
            return reduce(event.subject, event.data) if event.subject in wanted else None

        subscription = fanout.subscribe(select, after)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            sent = after if after is not None else 0
            quiet_since = time.monotonic()
            async for item in self._page_events(js, subjects, reduce, subscription):
                if self.closing.is_set() or fanout.closed:
                    return
                if item is not None and item[0] > sent:
                    sent, shown = item
                    yield sse(shown.name, shown.data, sent)
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= KEEP_ALIVE_SECONDS:
                    yield ": keep-alive\n\n"
                    quiet_since = time.monotonic()
        finally:
            fanout.unsubscribe(subscription)

    async def _page_events(
        self,
        js: JetStreamContext,
        subjects: list[Subjects],
        reduce: Reduce,
        subscription: Subscription[PageEvent],
    ) -> AsyncIterator[tuple[int, PageEvent] | None]:
        """A page's events with their sequences: from the stream if the buffer did not reach
        back far enough, then the buffer's, then the fan-out's as they come (None when none
        came for `POLL_SECONDS`). Ends once a page that fell behind has what it holds."""
        if subscription.catch_up is not None:
            async for item in self._catch_up(js, subjects, reduce, subscription.catch_up):
                yield item
        for item in subscription.backlog:
            yield item
        while not (subscription.overflowed and subscription.queue.empty()):
            try:
                yield await asyncio.wait_for(subscription.queue.get(), POLL_SECONDS)
            except TimeoutError:
                yield None

    async def _catch_up(
        self, js: JetStreamContext, subjects: list[Subjects], reduce: Reduce, catch_up: CatchUp
    ) -> AsyncIterator[tuple[int, PageEvent] | None]:
        """The page's events after `catch_up.after` up to `catch_up.until`, read from the
        stream with a watch of the page's own that ends there."""
        after = catch_up.after
        oldest = (await position(js)).first
        if oldest > after + 1:
            # Events after `after` are gone from the stream (its retention): the page
            # must load afresh rather than trust an incomplete history.
            after = oldest - 1
            yield after, PageEvent("resync", {})
        if after >= catch_up.until:
            return
        async with watch(js, subjects, after) as events:
            while not await events.drained():
                event = await events.next(within=POLL_SECONDS)
                if event is None:
                    yield None
                    continue
                if event.sequence > catch_up.until:
                    return
                shown = reduce(event.subject, event.data)
                if shown is not None:
                    yield event.sequence, shown
