"""The tickets for sale, kept in memory by each replica: the public list and its pages are
answered from memory, never older than `max_age` (half a second).

A request finds the catalogue up to date when it was last brought up to date (a *sync*)
less than `max_age` before, and nothing changed here since; otherwise it waits for a sync.
A sync reads only what changed: every write of a ticket stamps it `changed_at` (epoch
milliseconds, indexed; `Ticket.stored`), and a sync reads the tickets stamped since the
previous one started, less `OVERLAP_MS`. So its cost follows the writes of the last moment,
never the size of the catalogue, and an idle catalogue costs nothing (a sync runs only when a
request needs one). The first sync reads every ticket for sale.

Correct across replicas without talking to them: a sync shows every write stored before it
started, so an answer never shows the database as it was more than `max_age` before the
request (a ticket reserved through another replica leaves the list within `max_age`). A
change made here (`changed()`) is shown at once: the next request waits for a sync begun
after it. Concurrent requests wait for the same single sync; syncs run one at a time.

Tickets are never deleted by the service; a document removed behind its back (by hand)
stays listed until the replica restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId
from sortedcontainers import SortedDict

from common.errors import ServiceUnavailableError
from common.outbox import now_ms
from tickets.listing import LIST_MAX_AGE_SECONDS, json_array, listed_ticket_json

OVERLAP_MS = 5000
"""How far before the previous sync's start a sync reads back. A write is stamped before it
is sent and may be stored up to the client's operation timeout later (1.5 s), and the
replica that wrote it may have a clock slightly behind this one: such a write, stored after
the previous sync started, is still read by the next one."""

ANSWER_WAIT_SECONDS = 2.0
"""How long a request waits for a sync before answering 503 (the contract's 503 within 3 s
while the database is away); the sync itself goes on for the requests after it."""

Reader = Callable[[int | None], Awaitable[list[dict[str, Any]]]]
"""Reads the stored tickets changed since a time (epoch ms), or with None every ticket for
sale: raw documents with at least `listing.LISTED_FIELDS` (`listing.stored_tickets`)."""


class Catalogue:
    """The tickets for sale in `_id` order, each kept as its JSON (`listed_ticket_json`)."""

    def __init__(
        self,
        read: Reader,
        *,
        max_age: float = LIST_MAX_AGE_SECONDS,
        wait: float = ANSWER_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._read = read
        self._clock, self._wall_clock_ms = clock, wall_clock_ms
        self.max_age = max_age
        self.wait = wait
        self._listed: SortedDict[PydanticObjectId, bytes] = SortedDict()
        self._content = 0
        """Counts the syncs that changed what is listed."""
        self._everything: tuple[int, bytes] | None = None
        """The whole list's JSON, and the `_content` it was made from."""
        self._since_ms: int | None = None
        """Where the next sync reads from; None until the first sync (which reads everything)."""
        self._generation = 0
        """Counts the changes made here."""
        self._synced_at, self._synced_generation = -math.inf, -1
        """When the latest finished sync started, and the changes made here it includes."""
        self._syncing: asyncio.Task[None] | None = None
        self._syncing_since, self._syncing_generation = -math.inf, -1

    @property
    def loaded(self) -> bool:
        return self._since_ms is not None

    def changed(self) -> None:
        """This replica changed a ticket (or tried: a write that failed may still be stored)."""
        self._generation += 1

    async def page(self, after: PydanticObjectId | None, limit: int | None) -> bytes:
        """At most `limit` (or every) tickets for sale whose id comes after `after`, as a
        JSON array."""
        await self.up_to_date()
        start = 0 if after is None else self._listed.bisect_right(after)
        end = None if limit is None else start + limit
        return json_array(self._listed.values()[start:end])  # found by position, not walked

    async def everything(self) -> bytes:
        """Every ticket for sale, as a JSON array (made once per change of the catalogue)."""
        await self.up_to_date()
        if self._everything is None or self._everything[0] != self._content:
            self._everything = (self._content, json_array(self._listed.values()))
        return self._everything[1]

    async def up_to_date(self) -> None:
        """Return once a sync that started less than `max_age` ago, after every change made
        here, has finished; 503 when none can finish within `wait`."""
        now, generation = self._clock(), self._generation
        if self._includes(self._synced_at, self._synced_generation, now, generation):
            return
        syncing = self._syncing
        if (
            syncing is None
            or syncing.done()
            or not self._includes(self._syncing_since, self._syncing_generation, now, generation)
        ):
            running = syncing if syncing is not None and not syncing.done() else None
            self._syncing_since, self._syncing_generation = now, generation
            syncing = self._syncing = asyncio.create_task(self._sync(running, now, generation))
            syncing.add_done_callback(_retrieve_exception)
        try:
            # One caller going away (a client disconnecting) does not cancel the others' sync.
            await asyncio.wait_for(asyncio.shield(syncing), self.wait)
        except TimeoutError:
            raise ServiceUnavailableError() from None

    def _includes(self, started: float, generation: int, now: float, wanted: int) -> bool:
        return generation >= wanted and now - started < self.max_age

    async def _sync(
        self, running: asyncio.Task[None] | None, since: float, generation: int
    ) -> None:
        """Read what changed since the previous sync (after `running`, one at a time), then
        apply it all at once: a sync that fails changes nothing. `since` and `generation`
        are when it was asked for and the changes here it includes; it starts later."""
        if running is not None:
            with contextlib.suppress(Exception):
                await running
        started_ms = self._wall_clock_ms()
        documents = await self._read(self._since_ms)
        if self._since_ms is None:
            self._listed = SortedDict(
                (document["_id"], listed_ticket_json(document)) for document in documents
            )
            self._content += 1
        elif self._apply(documents):
            self._content += 1
        self._since_ms = started_ms - OVERLAP_MS
        self._synced_at, self._synced_generation = since, generation

    def _apply(self, documents: list[dict[str, Any]]) -> bool:
        """List or unlist each changed ticket; whether the list changed (a sync reads back
        over changes it has already applied)."""
        changed = False
        for document in documents:
            ticket_id = document["_id"]
            if document.get("order_id") is None:
                listed = listed_ticket_json(document)
                if self._listed.get(ticket_id) != listed:
                    self._listed[ticket_id] = listed
                    changed = True
            elif self._listed.pop(ticket_id, None) is not None:
                changed = True
        return changed

    async def readiness(self) -> dict[str, bool]:
        """Ready once the first sync has read every ticket for sale (started here if needed)."""
        if not self.loaded:
            with contextlib.suppress(Exception):
                await self.up_to_date()
        return {"catalogue": self.loaded}


def _retrieve_exception(task: asyncio.Task[None]) -> None:
    """A failed sync is reported to the requests waiting for it; if they have all gone, it
    is not reported again as never retrieved."""
    if not task.cancelled():
        task.exception()
