"""No lost events: a document carries its pending events, written with the change itself.

A change and its events are stored in one single-document write, so they cannot be
separated, and publishing is a consequence of that write: `OutboxDocument.insert_with_event`
and `VersionedDocument.save_next_version` publish the document's pending events right after
storing them (no caller can forget to). What a crash or a NATS outage leaves behind, the
relay (`Outbox.run`) publishes later. Every event keeps its id as `Nats-Msg-Id`, so a publish
repeated by a race or a retry is stored by JetStream only once.

The normal path costs one database write per change: the published events are cleared from
their documents in batches, one bulk write for everything published in the last tenth of a
second. While a document holds pending events it carries a marker, `outbox_at` (when they
were recorded), which exists only then: the relay finds what is left through an index on it,
so its idle cost does not grow with the collection, and it looks only at markers older than
a grace period (the writer is publishing those itself). A relay takes a document by moving
its marker forward in one conditional update, so relays in several replicas never publish
the same document at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar, Self
from uuid import uuid4

from beanie import Document, PydanticObjectId
from pydantic import BaseModel, Field
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.cursor import AsyncCursor

from common.errors import database_unavailable
from common.events.publisher import EventPublisher
from common.events.schemas import Event
from common.observability.tracing import continuing, trace_headers
from common.stored import as_stored
from common.together import insert_together

logger = logging.getLogger(__name__)

MARKER = "outbox_at"
"""The field a document has only while it holds pending events: when they were recorded, in
epoch milliseconds (a whole number, so that it compares exactly once stored)."""


def now_ms() -> int:
    return int(time.time() * 1000)


FAILING_RETRY_DELAY = 0.2
"""Seconds before the first relay pass after a failed publish (doubling up to the interval):
a stream electing a new leader takes seconds, and events should reach it as soon as it can
store them."""


class PendingEvent(BaseModel):
    id: str = Field(default_factory=lambda: uuid4().hex)
    subject: str
    data: dict[str, Any]
    trace: dict[str, str] | None = None
    """The trace context the event was recorded in (`traceparent`), so that it is published
    in the same trace even by the relay."""


class OutboxDocument(Document):
    """A document that carries the events of its last changes until they are published."""

    outbox: list[PendingEvent] = Field(default_factory=list)
    outbox_at: int | None = None
    """When the pending events were recorded (`MARKER`); absent once they are published."""

    _outbox: ClassVar[Outbox | None] = None
    """Where this model's events are published (bound at start-up by `Outbox`)."""

    def record(self, event: Event) -> None:
        self.outbox.append(
            PendingEvent(
                subject=event.subject.value, data=event.to_wire(), trace=trace_headers() or None
            )
        )

    def record_message(self, subject: str, data: dict[str, Any]) -> None:
        """Record a message that is not one of the contract's events, published the same
        way (e.g. a put into a JetStream key-value bucket, whose subject names the key)."""
        self.outbox.append(PendingEvent(subject=subject, data=data, trace=trace_headers() or None))

    async def insert_with_event(self, make_event: Callable[[Self], Event]) -> Self:
        """Insert this new document together with the event describing it, then publish."""
        if self.id is None:
            self.id = PydanticObjectId()
        self.record(make_event(self))
        await self.insert_with_pending()
        return self

    async def insert_with_pending(self) -> None:
        """Insert this new document with the events recorded on it, then publish them (the
        insert shares its command with those made at the same moment: `common.together`)."""
        self.outbox_at = now_ms() if self.outbox else None
        await insert_together(self.get_pymongo_collection(), self.stored())
        await self.publish_pending()

    def stored(self) -> dict[str, Any]:
        """The document as written: without the marker when nothing is pending (and without
        `_id` until it has one).

        See `common.stored.as_stored`."""
        document = as_stored(self)
        if self.outbox_at is None:
            document.pop(MARKER, None)
        return document

    def as_written(self) -> dict[str, Any]:
        """A filter matching this document only as long as nobody wrote it since us."""
        return {"_id": self.id, MARKER: self.outbox_at}

    async def publish_pending(self) -> None:
        """Publish the pending events now (if this model's outbox is bound); what cannot be
        published stays for the relay."""
        outbox = type(self)._outbox
        if outbox is not None and self.outbox:
            await outbox.publish(self)


def pending(model: type[OutboxDocument], cutoff: int, batch: int) -> AsyncCursor[dict[str, Any]]:
    """The relay's query: up to `batch` documents of `model` whose events have been pending
    since before `cutoff` (epoch ms), oldest first. It names only the marker, which exists
    only while events are pending and is indexed (`outbox_pending`), so it reads the backlog,
    never the rest of the collection."""
    collection = model.get_pymongo_collection()
    found = collection.find({MARKER: {"$lt": cutoff}}, {"outbox": 1, MARKER: 1})
    return found.sort(MARKER, ASCENDING).limit(batch)


class Outbox:
    """Publishes the pending events of `models`' documents: right after each write, and
    (`run`) whatever is left behind; clears published events in batches."""

    def __init__(
        self,
        publisher: EventPublisher,
        models: list[type[OutboxDocument]],
        *,
        relay_interval: float = 1.0,
        grace: float = 5.0,
        clear_interval: float = 0.1,
    ) -> None:
        self.publisher = publisher
        self.models = models
        self.relay_interval = relay_interval
        self.grace = grace
        """Seconds a document's writer has to publish its events before the relay may."""
        self.clear_interval = clear_interval
        self._published: dict[type[OutboxDocument], list[UpdateOne]] = {}
        self.publish_failed = False
        """Whether a publish failed since the last relay pass that published everything."""

    async def bind(self) -> None:
        """Publish the models' writes through this outbox, and index their markers."""
        for model in self.models:
            model._outbox = self
            await model.get_pymongo_collection().create_index(
                [(MARKER, ASCENDING)], name="outbox_pending", sparse=True
            )

    def unbind(self) -> None:
        for model in self.models:
            if model._outbox is self:
                model._outbox = None

    async def publish(self, document: OutboxDocument) -> bool:
        """Publish `document`'s pending events in order; True when all were published (they
        are then cleared with the next batch)."""
        events = [event.model_dump() for event in document.outbox]
        if not await self._publish_all(events):
            return False
        self._clear_later(type(document), document.as_written())
        return True

    async def _publish_all(self, events: list[dict[str, Any]]) -> bool:
        for event in events:
            try:
                with continuing(event.get("trace")):
                    await self.publisher.publish(event["subject"], event["data"], event["id"])
            except Exception as error:
                logger.warning(
                    "publishing %s %s deferred: %s", event["subject"], event["id"], error
                )
                self.publish_failed = True
                return False
        return True

    def _clear_later(self, model: type[OutboxDocument], as_written: dict[str, Any]) -> None:
        clear = UpdateOne(as_written, {"$set": {"outbox": []}, "$unset": {MARKER: ""}})
        self._published.setdefault(model, []).append(clear)

    async def clear_published(self) -> int:
        """Clear the events published since the last call from their documents (one bulk
        write per model). A document written again since keeps its events: its writer
        publishes them all again (JetStream drops the repeats) and clears them itself."""
        batches, self._published = self._published, {}
        cleared = 0
        for model, updates in batches.items():
            result = await model.get_pymongo_collection().bulk_write(updates, ordered=False)
            cleared += result.modified_count
        return cleared

    async def drain_once(self, batch: int = 100, *, grace: float | None = None) -> int:
        """One relay pass over every model: publish what writers left behind (pending for
        longer than `grace` seconds). Returns how many events were published."""
        cutoff = now_ms() - int(1000 * (self.grace if grace is None else grace))
        sent = 0
        for model in self.models:
            collection = model.get_pymongo_collection()
            async for raw in pending(model, cutoff, batch):
                taken_at = max(now_ms(), raw[MARKER] + 1)
                # Take the document: another relay now sees a fresh marker and leaves it.
                taken = await collection.find_one_and_update(
                    {"_id": raw["_id"], MARKER: raw[MARKER]}, {"$set": {MARKER: taken_at}}
                )
                if taken is None:
                    continue
                events = list(taken.get("outbox", []))
                if not await self._publish_all(events):
                    return sent  # the publisher is failing: try again on the next pass
                self._clear_later(model, {"_id": raw["_id"], MARKER: taken_at})
                sent += len(events)
        await self.clear_published()
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        """Clear published events every `clear_interval` and relay every `relay_interval`
        (sooner while publishing fails) until `stop`; what was published is cleared before
        returning."""
        next_relay = 0.0
        failures = 0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                await self.clear_published()
                if loop.time() >= next_relay:
                    # While publishing fails, what writers left is taken at once (they know
                    # they could not publish it), and sooner than every interval.
                    failing, self.publish_failed = self.publish_failed, False
                    await self.drain_once(grace=0 if failing else None)
                    failures = failures + 1 if self.publish_failed else 0
                    delay = FAILING_RETRY_DELAY * 2 ** (failures - 1) if failures else 0
                    next_relay = loop.time() + min(
                        self.relay_interval, delay or self.relay_interval
                    )
            except Exception as error:
                if database_unavailable(error):  # expected during an outage: no traceback
                    logger.warning("outbox pass failed, database unavailable: %s", error)
                else:
                    logger.exception("outbox pass failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.clear_interval)
        with contextlib.suppress(Exception):
            await self.clear_published()
