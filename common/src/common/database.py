"""Database helpers: connecting Beanie, versioned documents with an outbox, and replicas.

Every change an owning service makes is conditioned on the version it read (optimistic
concurrency) and carries its events in the same write (see `common.outbox`). A replica
applies an event only when it is the next version of what it holds.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, Self, TypeVar

from beanie import Document, PydanticObjectId, init_beanie
from beanie.odm.utils.dump import get_dict
from bson import ObjectId
from bson.errors import InvalidId
from pydantic import Field
from pymongo import AsyncMongoClient

from common.errors import ConflictError
from common.events.listener import EventOutOfOrder
from common.events.schemas import Event
from common.outbox import PendingEvent, pending

REPLICA_SET_SAFETY: dict[str, Any] = {
    "w": "majority",
    "journal": True,
    "retryWrites": True,
    "readConcernLevel": "majority",
    "readPreference": "primary",
}
"""How every service uses its database, so that it is right on a replica set (production):

- a write is acknowledged only once a majority of members have it on disk: a reservation, a
  payment claim or a payment a client was told about survives the loss of the primary (one
  acknowledged by the primary alone can be rolled back by the failover that follows);
- a write cut off by a failover is retried once on the new primary (retryable writes: every
  write here is a single-document one, which MongoDB retries exactly once);
- reads go to the primary and see only majority-committed data: never a reservation or a
  claim that a failover could still roll back, never a lagging secondary.

Every write the services make is one a client or an event depends on, so this holds for all
of them. On a single server (the local stand-in, a lone mongod) it is what happens anyway.
"""


async def connect_database(
    mongo_uri: str, document_models: list[type[Document]]
) -> AsyncMongoClient[Any]:
    """Connect to the database named in `mongo_uri` and initialise Beanie (and its indexes)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        mongo_uri, tz_aware=True, serverSelectionTimeoutMS=5000, **REPLICA_SET_SAFETY
    )
    await init_beanie(database=client.get_default_database(), document_models=document_models)
    return client


def parse_object_id(value: str) -> PydanticObjectId | None:
    """The ObjectId `value` spells, or None (a malformed id in a path is a 404)."""
    try:
        return PydanticObjectId(ObjectId(value))
    except (InvalidId, TypeError):
        return None


class VersionConflict(ConflictError):
    """Someone changed the document between our read and our write."""


class OutboxDocument(Document):
    """A document that carries the events of its last changes until they are published."""

    outbox: list[PendingEvent] = Field(default_factory=list)

    def record(self, event: Event) -> None:
        self.outbox.append(pending(event))

    async def insert_with_event(self, make_event: Callable[[Self], Event]) -> Self:
        """Insert this new document together with the event describing it."""
        if self.id is None:
            self.id = PydanticObjectId()
        self.record(make_event(self))
        await self.insert()
        return self


class VersionedDocument(OutboxDocument):
    version: int = 0

    async def save_next_version(self, *make_events: Callable[[Self], Event]) -> Self:
        """Store this document's changes as the next version, with the events built from it.

        Raises `VersionConflict` (409) when the stored version is no longer the one read;
        the caller may re-read and try again.
        """
        expected = self.version
        outbox_before = list(self.outbox)
        self.version = expected + 1
        for make_event in make_events:
            self.record(make_event(self))
        result = await self.get_pymongo_collection().replace_one(
            {"_id": self.id, "version": expected},
            get_dict(self, to_db=True, keep_nulls=True),
        )
        if result.matched_count == 0:
            self.version = expected
            self.outbox = outbox_before
            raise VersionConflict()
        return self


T = TypeVar("T")


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], attempts: int = 8) -> T:
    """Run `attempt` (which re-reads what it changes) until it stores without a
    `VersionConflict`; after `attempts` losses the conflict propagates (409 / redelivery)."""
    for n in range(1, attempts + 1):
        try:
            return await attempt()
        except VersionConflict:
            if n == attempts:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * n))  # spread the retrying writers
    raise AssertionError("unreachable")


async def apply_next_version(
    model: type[Document], document_id: str, version: int, fields: dict[str, Any]
) -> bool:
    """Apply an owner's change to a replica document if it is the next version.

    Returns True when applied, False for an older or duplicate event (ack and ignore);
    raises `EventOutOfOrder` for a future one (leave it unacked).
    """
    object_id = ObjectId(document_id)
    collection = model.get_pymongo_collection()
    result = await collection.update_one(
        {"_id": object_id, "version": version - 1}, {"$set": {**fields, "version": version}}
    )
    if result.matched_count:
        return True
    existing = await collection.find_one({"_id": object_id}, {"version": 1})
    if existing is not None and existing.get("version", -1) >= version:
        return False
    held = "nothing" if existing is None else f"version {existing.get('version')}"
    raise EventOutOfOrder(f"{model.__name__} {document_id}: holds {held}, event is {version}")
