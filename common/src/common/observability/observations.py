"""What a scrape asks of NATS and the database (see `common.observability.metrics.Observer`):
the lag of the service's durable consumers, the streams' use of their limits, and the
outbox backlog of the service's documents."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from pymongo import ASCENDING

from common.events.listener import Listener
from common.events.stream import DEAD_STREAM_NAME, STREAM_NAME
from common.observability.metrics import (
    CONSUMER_ACK_PENDING,
    CONSUMER_PENDING,
    OUTBOX_OLDEST_AGE,
    OUTBOX_PENDING,
    STREAM_BYTES,
    STREAM_MAX_BYTES,
    STREAM_MESSAGES,
    Observation,
)
from common.outbox import MARKER, OutboxDocument


def consumer_lag(
    service: str, js: JetStreamContext, listeners: Sequence[Listener[Any]]
) -> Observation:
    """Pending and ack-pending counts of each of the service's durable consumers."""

    async def observe() -> None:
        for listener in listeners:
            durable = listener.durable_name()
            info = await js.consumer_info(STREAM_NAME, durable)
            CONSUMER_PENDING.labels(service, durable).set(info.num_pending or 0)
            CONSUMER_ACK_PENDING.labels(service, durable).set(info.num_ack_pending or 0)

    return observe


def stream_usage(service: str, js: JetStreamContext) -> Observation:
    """Bytes, limit and messages of the event stream and of the dead-letter stream."""

    async def observe() -> None:
        for stream in (STREAM_NAME, DEAD_STREAM_NAME):
            info = await js.stream_info(stream)
            STREAM_BYTES.labels(service, stream).set(info.state.bytes or 0)
            STREAM_MESSAGES.labels(service, stream).set(info.state.messages or 0)
            STREAM_MAX_BYTES.labels(service, stream).set(info.config.max_bytes or -1)

    return observe


async def outbox_backlog_of(model: type[OutboxDocument]) -> tuple[int, float]:
    """How many documents of `model` hold unpublished events, and the age in seconds of the
    oldest (0 when none). Both read the sparse index on the marker."""
    collection = model.get_pymongo_collection()
    pending = {MARKER: {"$gt": 0}}
    count = await collection.count_documents(pending)
    oldest = await collection.find_one(pending, {MARKER: 1}, sort=[(MARKER, ASCENDING)])
    age = max(0.0, time.time() - oldest[MARKER] / 1000) if oldest else 0.0
    return count, age


def outbox_backlog(service: str, models: Sequence[type[OutboxDocument]]) -> Observation:
    async def observe() -> None:
        for model in models:
            count, age = await outbox_backlog_of(model)
            name = model.get_collection_name()
            OUTBOX_PENDING.labels(service, name).set(count)
            OUTBOX_OLDEST_AGE.labels(service, name).set(age)

    return observe
