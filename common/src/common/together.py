"""Group commit: inserts into one collection, or reads of one collection by `_id`, made at
the same moment go to the database as one command (`insert_many`, `find` with `$in`).

Under load many such commands are in flight at once: tickets put on sale, orders placed,
replicas added by a listener working through a batch of events, tickets read to be held.
Every command costs the database a price of its own whatever it carries (the embedded
stand-in spends about 0.3 ms of CPU on a bare `ping`) and the service a driver call; one
command for many documents pays both once.

Nothing waits for company: when no command of its kind is in flight for the collection, a
call goes out at once, alone. The calls that arrive while one is in flight wait for it, and
then go together in the next command. A lone call is therefore as fast as before, and the
groups grow only as fast as the load does.

Each caller gets its own outcome, as if it had called alone: its document stored or found,
or its own error (an insert colliding on a unique key raises `DuplicateKeyError`; the
command is unordered, so the other documents are stored). A failure of the whole command (a
timeout, the database unreachable) is every caller's, and like a failed `insert_one` it may
or may not have stored the documents. The client's time limit (`timeoutMS`) bounds a call
from end to end, its wait for the command before its own included.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, NetworkTimeout, WriteError

DUPLICATE_KEY = 11000

MAX_GROUP = 100
"""Calls in one command at most (a backlog goes in several)."""

Document = dict[str, Any]
Collection = AsyncCollection[Document]
Call = TypeVar("Call")
Outcome = TypeVar("Outcome")


class Group(ABC, Generic[Call, Outcome]):
    """The calls of one kind on one collection, sent together (see the module docstring)."""

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.waiting: list[tuple[Call, asyncio.Future[Outcome]]] = []
        self.sender: asyncio.Task[None] | None = None
        self.limit: float | None = collection.database.client.options.timeout
        """The client's time limit (`timeoutMS`), in seconds."""

    async def call(self, call: Call) -> Outcome:
        """The outcome of `call`, sent together with the calls made meanwhile."""
        outcome: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.waiting.append((call, outcome))
        if self.sender is None or self.sender.done():
            # Its own context: the command belongs to no single caller's request or trace.
            self.sender = asyncio.create_task(self._send(), context=contextvars.Context())
        try:
            # The client's time limit bounds the whole call, the wait for the command in
            # flight included; a call given up before it is sent (its future cancelled with
            # it) is never sent.
            async with asyncio.timeout(self.limit):
                return await outcome
        except TimeoutError as error:
            raise NetworkTimeout(f"the database did not answer within {self.limit}s") from error

    async def _send(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
            group = [(call, future) for call, future in group if not future.done()]
            if not group:
                continue
            try:
                outcomes = await self.run([call for call, _ in group])
            except Exception as error:
                outcomes = [error] * len(group)
            for (_, future), outcome in zip(group, outcomes, strict=True):
                if future.done():  # the caller was cancelled
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    @abstractmethod
    async def run(self, calls: list[Call]) -> list[Outcome | Exception]:
        """One command for `calls`: each call's outcome, or its own error. An exception
        raised is every caller's."""


class InsertGroup(Group[Document, None]):
    async def run(self, calls: list[Document]) -> list[Exception | None]:
        try:
            if len(calls) == 1:
                await self.collection.insert_one(calls[0])
            else:
                await self.collection.insert_many(calls, ordered=False)
        except BulkWriteError as error:
            if error.details.get("writeConcernErrors"):
                raise
            failed = {failure["index"]: failure for failure in error.details["writeErrors"]}
            return [_write_error(failed[n]) if n in failed else None for n in range(len(calls))]
        return [None] * len(calls)


def _write_error(failure: dict[str, Any]) -> WriteError:
    """One document's failure in an unordered `insert_many`, as `insert_one` raises it."""
    kind = DuplicateKeyError if failure.get("code") == DUPLICATE_KEY else WriteError
    return kind(failure.get("errmsg", ""), failure.get("code"), failure)


class FindByIdGroup(Group[Any, Document | None]):
    async def run(self, calls: list[Any]) -> list[Document | Exception | None]:
        if len(calls) == 1:
            return [await self.collection.find_one({"_id": calls[0]})]
        found = {
            document["_id"]: document
            async for document in self.collection.find({"_id": {"$in": list(set(calls))}})
        }
        return [found.get(document_id) for document_id in calls]


_groups: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[type[Group[Any, Any]], str], Group[Any, Any]]
] = weakref.WeakKeyDictionary()
"""The groups of each event loop (their futures and tasks belong to it)."""

G = TypeVar("G", bound=Group[Any, Any])


def group_of(kind: type[G], collection: Collection) -> G:
    """The group of `kind` for `collection` in the running event loop."""
    groups = _groups.setdefault(asyncio.get_running_loop(), {})
    key = (kind, collection.full_name)
    group = groups.get(key)
    if not isinstance(group, kind) or group.collection is not collection:
        group = kind(collection)
        groups[key] = group
    return group


async def insert_together(collection: Collection, document: Document) -> None:
    """Insert `document` (given an `_id` if it has none), in one command with the other
    inserts into `collection` made at the same moment; raises what `insert_one` would."""
    await group_of(InsertGroup, collection).call(document)


async def find_by_id_together(collection: Collection, document_id: Any) -> Document | None:
    """The document of `collection` with this `_id` (None if there is none), read in one
    command with the other such reads made at the same moment."""
    return await group_of(FindByIdGroup, collection).call(document_id)
