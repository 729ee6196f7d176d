"""The public list of tickets for sale, answered as JSON bytes made in one pass.

The list is read as raw documents, only the fields the answer shows, and written straight to
JSON: no document models are built and validated on the way (the tickets were validated when
they were stored). The answer is the same as `TicketResponse` gives for each ticket.

The unpaged list (what the original client's landing page asks for) is the same for every
caller, so a replica answers the requests of the next moment with one read: `SharedAnswer`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic_core import to_json

from common.money import price_of, with_price_in_cents

LISTED_FIELDS: dict[str, int] = {
    "title": 1,
    "price_cents": 1,
    "price": 1,  # a ticket stored before prices were kept in cents (`with_price_in_cents`)
    "user_id": 1,
    "version": 1,
    "order_id": 1,
}
"""What a listed ticket shows, as a projection."""

LIST_MAX_AGE_SECONDS = 0.5
"""How long a replica answers the unpaged list from one read: a ticket reserved (or changed)
by another replica is listed as it was for less than this after the change."""


def listed_ticket(document: dict[str, Any]) -> dict[str, Any]:
    """A stored ticket (`LISTED_FIELDS`) as the API shows it: `TicketResponse`'s fields."""
    document = with_price_in_cents(document)
    return {
        "id": str(document["_id"]),
        "title": document["title"],
        "price": price_of(document["price_cents"]),
        "userId": document["user_id"],
        "version": document["version"],
        "orderId": document.get("order_id"),
    }


def listing_json(documents: list[dict[str, Any]]) -> bytes:
    return to_json([listed_ticket(document) for document in documents])


class SharedAnswer:
    """One answer shared by the requests that ask for it within `max_age` seconds.

    Correct across replicas without talking to them: an answer is kept only for `max_age`
    counted from when its read *started*, so it never shows the database as it was more than
    `max_age` before a request arrived; a change stored by another replica shows everywhere
    within `max_age`. A change made here (`changed()`) is shown at once: the answers read
    before it are dropped, and requests arriving after it do not join a read begun before it.
    Concurrent requests that find no fresh answer wait for the same single read.
    """

    def __init__(
        self, read: Callable[[], Awaitable[bytes]], max_age: float = LIST_MAX_AGE_SECONDS
    ) -> None:
        self._read = read
        self.max_age = max_age
        self._generation = 0
        """Counts the changes made here."""
        self._answer: bytes | None = None
        self._answer_read_at = 0.0
        self._answer_generation = -1
        self._reading: asyncio.Task[bytes] | None = None
        self._reading_since = 0.0
        self._reading_generation = -1

    def changed(self) -> None:
        """This replica changed what the answer shows."""
        self._generation += 1

    async def get(self) -> bytes:
        now = time.monotonic()
        if self._answer is not None and self._is_fresh(
            self._answer_generation, self._answer_read_at, now
        ):
            return self._answer
        reading = self._reading
        if (
            reading is None
            or reading.done()  # what it read is the answer above, or it failed
            or not self._is_fresh(self._reading_generation, self._reading_since, now)
        ):
            self._reading_since, self._reading_generation = now, self._generation
            reading = self._reading = asyncio.create_task(self._read_answer(now, self._generation))
            reading.add_done_callback(_retrieve_exception)
        # One caller going away (a client disconnecting) does not cancel the others' read.
        return await asyncio.shield(reading)

    def _is_fresh(self, generation: int, read_at: float, now: float) -> bool:
        return generation == self._generation and now - read_at < self.max_age

    async def _read_answer(self, started: float, generation: int) -> bytes:
        answer = await self._read()
        if generation == self._generation and started >= self._answer_read_at:
            self._answer, self._answer_read_at, self._answer_generation = (
                answer,
                started,
                generation,
            )
        return answer


def _retrieve_exception(task: asyncio.Task[bytes]) -> None:
    """A failed read is reported to the requests waiting for it; if they have all gone,
    it is not reported again as never retrieved."""
    if not task.cancelled():
        task.exception()
