"""Group commit: the inserts into one collection made at the same moment go to the database
as one `insert_many`.

Under load many inserts are in flight at once: tickets put on sale, orders placed, replicas
added by a listener working through a batch of events. Every command costs the database a
fixed price whatever it carries (the embedded stand-in spends about 0.3 ms of CPU on a bare
`ping`) and the service a driver call; one command for many documents pays both once.

Nothing waits for company: when no insert into the collection is in flight, an insert goes
out at once, alone. The inserts that arrive while one is in flight wait for it, and then go
together in the next command. A lone insert is therefore as fast as before, and the batches
grow only as fast as the load does.

Each caller gets its own outcome, as if it had inserted alone: its document is stored, or it
gets its own error (`DuplicateKeyError` for a key another document holds: the command is
unordered, so the other documents are stored). A failure of the whole command (a timeout,
the database unreachable) is every caller's, and like a failed `insert_one` it may or may
not have stored the documents.
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

DUPLICATE_KEY = 11000

MAX_GROUP = 100
"""Documents in one command at most (a backlog goes in several)."""

Waiting = tuple[dict[str, Any], asyncio.Future[None]]


class InsertGroup:
    """The inserts into one collection, sent together (see the module docstring)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]]) -> None:
        self.collection = collection
        self.waiting: list[Waiting] = []
        self.sender: asyncio.Task[None] | None = None
        self.commands = 0
        """Commands sent so far (for tests and the curious)."""

    async def insert(self, document: dict[str, Any]) -> None:
        """Store `document` (given an `_id` if it has none), together with the inserts made
        meanwhile; raises what storing it alone would raise."""
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append((document, stored))
        if self.sender is None or self.sender.done():
            # Its own context: the command belongs to no single caller's request or trace.
            self.sender = asyncio.create_task(self._send(), context=contextvars.Context())
        await stored

    async def _send(self) -> None:
        while self.waiting:
            group, self.waiting = self.waiting[:MAX_GROUP], self.waiting[MAX_GROUP:]
            outcomes = await self._insert([document for document, _ in group])
            for (_, stored), outcome in zip(group, outcomes, strict=True):
                if stored.done():  # the caller was cancelled
                    continue
                if outcome is None:
                    stored.set_result(None)
                else:
                    stored.set_exception(outcome)

    async def _insert(self, documents: list[dict[str, Any]]) -> list[Exception | None]:
        """Each document's outcome: None when stored, else its error."""
        self.commands += 1
        try:
            if len(documents) == 1:
                await self.collection.insert_one(documents[0])
            else:
                await self.collection.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            if error.details.get("writeConcernErrors"):
                return [error] * len(documents)
            failed = {failure["index"]: failure for failure in error.details["writeErrors"]}
            return [
                _write_error(failed[index]) if index in failed else None
                for index in range(len(documents))
            ]
        except Exception as error:
            return [error] * len(documents)
        return [None] * len(documents)


def _write_error(failure: dict[str, Any]) -> WriteError:
    """One document's failure in an unordered `insert_many`, as `insert_one` raises it."""
    kind = DuplicateKeyError if failure.get("code") == DUPLICATE_KEY else WriteError
    return kind(failure.get("errmsg", ""), failure.get("code"), failure)


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, InsertGroup]] = (
    weakref.WeakKeyDictionary()
)
"""The groups of each event loop (its futures and tasks belong to it), by collection."""


def group_of(collection: AsyncCollection[dict[str, Any]]) -> InsertGroup:
    groups = _groups.setdefault(asyncio.get_running_loop(), {})
    name = f"{collection.database.name}.{collection.name}"
    group = groups.get(name)
    if group is None or group.collection is not collection:
        group = groups[name] = InsertGroup(collection)
    return group


async def insert_together(
    collection: AsyncCollection[dict[str, Any]], document: dict[str, Any]
) -> None:
    """Insert `document` into `collection`, in one command with the other inserts into it
    made at the same moment (see the module docstring)."""
    await group_of(collection).insert(document)
