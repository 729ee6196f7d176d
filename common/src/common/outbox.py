"""No lost events: each document carries its pending events, written with the change.

A change and its event are stored in one single-document write, so they cannot be
separated. Right after the write the service publishes the pending events and removes
them (`OutboxRelay.flush`); if NATS is down or the process dies first, the relay loop
finds documents that still hold events and publishes them when it can. Every event keeps
its id as `Nats-Msg-Id`, so a publish repeated by a race or a retry is stored only once.

Arrays are always written whole (`$set`) and never with `$push`, and pending documents are
found with `$elemMatch`: these are correct on MongoDB and also work on the embedded stand-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from uuid import uuid4

from beanie import Document
from pydantic import BaseModel, Field

from common.events.publisher import EventPublisher
from common.events.schemas import Event

logger = logging.getLogger(__name__)

FAILING_RETRY_DELAY = 0.2
"""Seconds before the first pass after a failed publish (doubling up to the interval)."""

PENDING_FILTER: dict[str, Any] = {"outbox": {"$elemMatch": {"id": {"$exists": True}}}}


class PendingEvent(BaseModel):
    id: str = Field(default_factory=lambda: uuid4().hex)
    subject: str
    data: dict[str, Any]


class OutboxRelay:
    """Publishes what documents of `models` hold in their `outbox`, then removes it."""

    def __init__(
        self,
        publisher: EventPublisher,
        models: list[type[Document]],
        interval: float = 1.0,
    ) -> None:
        self.publisher = publisher
        self.models = models
        self.interval = interval
        self.publish_failed = False
        """Whether the last pass stopped at an event the publisher could not publish."""

    async def flush(self, document: Document) -> bool:
        """Publish `document`'s pending events in order; True when none is left."""
        pending = list(getattr(document, "outbox", []))
        published = await self._publish(
            type(document), document.id, [e.model_dump() for e in pending]
        )
        remaining = pending[published:]
        document.outbox = remaining  # type: ignore[attr-defined]
        return not remaining

    async def _publish(
        self, model: type[Document], document_id: Any, events: list[dict[str, Any]]
    ) -> int:
        collection = model.get_pymongo_collection()
        published = 0
        for event in events:
            try:
                await self.publisher.publish(event["subject"], event["data"], event["id"])
            except Exception as error:
                logger.warning(
                    "publishing %s %s deferred: %s", event["subject"], event["id"], error
                )
                self.publish_failed = True
                break
            await collection.update_one(
                {"_id": document_id}, {"$pull": {"outbox": {"id": event["id"]}}}
            )
            published += 1
        return published

    async def drain_once(self, batch: int = 100) -> int:
        """One pass over every model: publish what is pending. Returns how many were sent."""
        self.publish_failed = False
        sent = 0
        for model in self.models:
            collection = model.get_pymongo_collection()
            async for raw in collection.find(PENDING_FILTER, {"outbox": 1}).limit(batch):
                events = raw.get("outbox", [])
                count = await self._publish(model, raw["_id"], events)
                sent += count
                if count < len(events):
                    return sent  # the publisher is failing: try again on the next pass
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """A pass every `interval`; sooner while the publisher fails (a stream electing a new
        leader takes seconds, and events should reach it as soon as it can store them)."""
        failures = 0
        while not stop.is_set():
            try:
                await self.drain_once()
            except Exception:
                logger.exception("outbox relay pass failed")
            failures = failures + 1 if self.publish_failed else 0
            delay = min(self.interval, FAILING_RETRY_DELAY * 2 ** (failures - 1))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay if failures else self.interval)


def pending(event: Event) -> PendingEvent:
    return PendingEvent(subject=event.subject.value, data=event.to_wire())
