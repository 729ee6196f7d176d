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
from urllib.parse import parse_qs, urlsplit

import pymongo
from beanie import Document, PydanticObjectId, init_beanie
from bson import ObjectId
from bson.errors import InvalidId
from pydantic import BeforeValidator
from pymongo import AsyncMongoClient

from common.errors import ConflictError
from common.events.listener import EventOutOfOrder
from common.events.schemas import Event
from common.outbox import OutboxDocument, now_ms
from common.together import find_by_id_together

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


OPERATION_TIMEOUT_MS = 1500
"""How long one database operation may take, waiting for a server and a connection included
(PyMongo's client-side operation timeout, `timeoutMS`). When the database is down or paused,
a request that needs it answers 503 soon after this bound instead of hanging: the contract
allows 3 s, and the rest is the margin for the request's own work on a busy machine."""

CLIENT_OPTIONS: dict[str, Any] = {
    "timeoutMS": OPERATION_TIMEOUT_MS,
    "serverSelectionTimeoutMS": OPERATION_TIMEOUT_MS,
    "connectTimeoutMS": OPERATION_TIMEOUT_MS,
    **REPLICA_SET_SAFETY,
}
"""Defaults; an option written in `MONGO_URI` (`...?timeoutMS=5000`) takes precedence."""

STARTUP_TIMEOUT_SECONDS = 30.0
"""Building the indexes at start-up may take longer than any one request's operation."""


def client_options(mongo_uri: str) -> dict[str, Any]:
    """`CLIENT_OPTIONS` without those `mongo_uri` sets itself (URI option names are
    case-insensitive)."""
    in_uri = {name.lower() for name in parse_qs(urlsplit(mongo_uri).query)}
    return {name: value for name, value in CLIENT_OPTIONS.items() if name.lower() not in in_uri}


async def connect_database(
    mongo_uri: str, document_models: list[type[Document]]
) -> AsyncMongoClient[Any]:
    """Connect to the database named in `mongo_uri` and initialise Beanie (and its indexes)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        mongo_uri, tz_aware=True, **client_options(mongo_uri)
    )
    with pymongo.timeout(STARTUP_TIMEOUT_SECONDS):
        await init_beanie(database=client.get_default_database(), document_models=document_models)
    return client


def parse_object_id(value: str) -> PydanticObjectId | None:
    """The ObjectId `value` spells, or None (a malformed id in a path is a 404)."""
    try:
        return PydanticObjectId(ObjectId(value))
    except (InvalidId, TypeError):
        return None


def object_id_field(message: str) -> BeforeValidator:
    """A request body's id: an ObjectId spelled as a string, else a 400 saying `message`."""

    def valid(value: Any) -> PydanticObjectId:
        object_id = parse_object_id(value) if isinstance(value, str) else None
        if object_id is None:
            raise ValueError(message)
        return object_id

    return BeforeValidator(valid)


D = TypeVar("D", bound=Document)


async def find_by_id(model: type[D], document_id: ObjectId) -> D | None:
    """The `model` document with this id, or None: one plain read validated into the model
    (what `Document.get` does, without building a query object each time), shared with the
    reads made at the same moment (`common.together`)."""
    document = await find_by_id_together(model.get_pymongo_collection(), document_id)
    return None if document is None else model.model_validate(document)


class VersionConflict(ConflictError):
    """Someone changed the document between our read and our write."""


class VersionedDocument(OutboxDocument):
    version: int = 0

    async def save_next_version(self, *make_events: Callable[[Self], Event]) -> Self:
        """Store this document's changes as the next version, with the events built from it,
        then publish them.

        Raises `VersionConflict` (409) when the stored version is no longer the one read;
        the caller may re-read and try again.
        """
        expected = self.version
        outbox_before, marker_before = list(self.outbox), self.outbox_at
        self.version = expected + 1
        for make_event in make_events:
            self.record(make_event(self))
        self.outbox_at = now_ms() if self.outbox else None
        result = await self.get_pymongo_collection().replace_one(
            {"_id": self.id, "version": expected}, self.stored()
        )
        if result.matched_count == 0:
            self.version = expected
            self.outbox, self.outbox_at = outbox_before, marker_before
            raise VersionConflict()
        await self.publish_pending()
        return self

    def as_written(self) -> dict[str, Any]:
        return {**super().as_written(), "version": self.version}


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
            # Spread the retrying writers (a jitter, not a secret).
            await asyncio.sleep(random.uniform(0, 0.005 * n))  # noqa: S311
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
