"""Watching the event stream from a given point, for live pages: every event, in order,
to whoever watches, with nothing acknowledged and nothing shared.

The listeners of the services share durable consumers (each event handled once per
service). A watcher is the opposite: it needs every event, from where it left off. `watch`
gives it a JetStream ordered consumer of its own - ephemeral, in memory, without acks,
recreated by the client library from the last sequence seen if a message goes missing or the
connection moves to another server - starting right after a stream sequence. The client
runs one such watch per replica for all its live pages (`client.live`), and a short one for a
page that resumes from further back than the replica remembers.

JetStream API used (for NATS permissions): `$JS.API.STREAM.INFO.<stream>` (`position`),
`$JS.API.CONSUMER.CREATE.<stream>` (the ordered consumers; the server removes one
`INACTIVE_THRESHOLD_SECONDS` after its watcher goes), `$JS.API.CONSUMER.INFO.<stream>.*`
(`Watch.drained` before the first event), replies to `$JS.FC.>` (flow control), and
deliveries on `_INBOX.>`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from common.events.stream import STREAM_NAME
from common.events.subjects import Subjects

logger = logging.getLogger(__name__)

INACTIVE_THRESHOLD_SECONDS = 30.0
"""How long the server keeps a watcher's consumer once nobody receives from it."""


@dataclass(frozen=True)
class StreamEvent:
    sequence: int
    """The event's position in the stream: a watcher resumes after it."""
    subject: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Position:
    """Where the stream is: its oldest and newest sequence (0 and 0 while empty)."""

    first: int
    last: int


async def position(js: JetStreamContext) -> Position:
    state = (await js.stream_info(STREAM_NAME)).state
    return Position(state.first_seq, state.last_seq)


class Watch:
    """The events of `subjects` after a sequence, as they come (`next` waits for one)."""

    def __init__(self, subscription: JetStreamContext.PushSubscription) -> None:
        self._subscription = subscription
        self._pending: int | None = None
        """How many more events the stream held when the last one was delivered."""

    async def drained(self) -> bool:
        """Whether every event the stream holds now (of these subjects, after the starting
        point) has been returned by `next`: for reading up to the present and stopping."""
        if self._pending is not None:
            return self._pending == 0
        info = await self._subscription.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else 0
        return info.num_pending == 0 and delivered == 0

    async def next(self, within: float) -> StreamEvent | None:
        """The next event, or None when none came within `within` seconds. An event whose
        payload is not a JSON object is skipped (it is logged)."""
        while True:
            try:
                msg = await self._subscription.next_msg(timeout=within)
            except NatsTimeout:
                return None
            self._pending = msg.metadata.num_pending
            try:
                data = json.loads(msg.data)
            except ValueError:
                data = None
            if isinstance(data, dict):
                return StreamEvent(msg.metadata.sequence.stream, msg.subject, data)
            logger.warning("skipping a malformed %s event (not a JSON object)", msg.subject)


@asynccontextmanager
async def watch(
    js: JetStreamContext, subjects: Sequence[Subjects], after: int | None
) -> AsyncIterator[Watch]:
    """Watch `subjects` from the event after the stream sequence `after` (None: from the
    next event published)."""
    config = ConsumerConfig(
        filter_subjects=[subject.value for subject in subjects],
        inactive_threshold=INACTIVE_THRESHOLD_SECONDS,
    )
    if after is None:
        config.deliver_policy = DeliverPolicy.NEW
    else:
        config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
        config.opt_start_seq = after + 1
    subscription = await js.subscribe(
        subjects[0].value, stream=STREAM_NAME, ordered_consumer=True, config=config
    )
    try:
        yield Watch(subscription)
    finally:
        try:
            await subscription.unsubscribe()
        except Exception as error:  # the connection may be gone; the server cleans up
            logger.debug("unsubscribing a watch failed: %r", error)
