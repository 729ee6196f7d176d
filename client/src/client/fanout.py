"""One replica's events, shared by its open live pages: each event the replica's consumer
receives is offered to every subscribed page, and the most recent ones are kept for pages
that resume.

A page's queue is bounded and the fan-out never waits for a page: a page that falls that far
behind is dropped (`Subscription.overflowed`); its stream then ends once it has sent what it
holds, and its browser reconnects with `Last-Event-ID`, resuming exactly where it stopped.

The ring buffer holds the last `size` events with their stream sequences. It covers every
event after `covered_after`: the sequence the consumer started after, or the last event
pushed out of the buffer. A page resuming from a position at or after it is served from
memory; an older position (or one before the consumer started) needs the stream for the
events up to `covered_after` (`Subscription.catch_up`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from common.events.watch import StreamEvent

T = TypeVar("T")

BUFFERED_EVENTS = 10_000
"""How many recent events a replica keeps for pages that resume."""
PAGE_QUEUE_SIZE = 1_000
"""How many events a page may fall behind before it is dropped (and its browser resumes)."""


@dataclass(frozen=True)
class CatchUp:
    """The stream's events a resuming page needs before the fan-out's: those after `after`
    up to `until` (inclusive)."""

    after: int
    until: int


@dataclass(eq=False)
class Subscription(Generic[T]):
    """A page's share of the fan-out: what the buffer held for it when it subscribed
    (`backlog`), then what comes (`queue`), each as (stream sequence, what `select` made of
    the event)."""

    select: Callable[[StreamEvent], T | None]
    queue: asyncio.Queue[tuple[int, T]]
    backlog: list[tuple[int, T]] = field(default_factory=list)
    catch_up: CatchUp | None = None
    overflowed: bool = False
    """Set when the page fell a whole queue behind: it is no longer offered events."""


class Fanout:
    def __init__(self, started_after: int, size: int | None = None) -> None:
        self._buffer: deque[StreamEvent] = deque(maxlen=size or BUFFERED_EVENTS)
        self.covered_after = started_after
        """Every event after this sequence is in the buffer (or still to come)."""
        self.last = started_after
        """The sequence of the last event fanned out."""
        self._subscriptions: set[Subscription[Any]] = set()
        self.closed = False
        """Set when the consumer feeding it stopped: its pages end (their browsers resume)."""

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, event: StreamEvent) -> None:
        """Keep `event` and offer it to every page; never waits. An event at or before the
        last one is a repeat (an ordered consumer recreated from an earlier position) and is
        ignored."""
        if event.sequence <= self.last:
            return
        if len(self._buffer) == self._buffer.maxlen:
            self.covered_after = self._buffer[0].sequence
        self._buffer.append(event)
        self.last = event.sequence
        for subscription in list(self._subscriptions):
            shown = subscription.select(event)
            if shown is None:
                continue
            try:
                subscription.queue.put_nowait((event.sequence, shown))
            except asyncio.QueueFull:
                subscription.overflowed = True
                self._subscriptions.discard(subscription)

    def subscribe(
        self,
        select: Callable[[StreamEvent], T | None],
        after: int | None,
        queue_size: int | None = None,
    ) -> Subscription[T]:
        """A page's subscription to the events after `after` (None: from the next one). The
        buffered events after `after` are its backlog; if the buffer does not reach back to
        `after`, `catch_up` names what to read from the stream first."""
        subscription: Subscription[T] = Subscription(
            select, asyncio.Queue(queue_size or PAGE_QUEUE_SIZE)
        )
        if after is not None:
            kept: list[tuple[int, T]] = []
            for event in reversed(self._buffer):
                if event.sequence <= after:
                    break
                shown = select(event)
                if shown is not None:
                    kept.append((event.sequence, shown))
            subscription.backlog = kept[::-1]
            if after < self.covered_after:
                subscription.catch_up = CatchUp(after, self.covered_after)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription[T]) -> None:
        self._subscriptions.discard(subscription)
