"""What this process knows of reservations, to spare the database the requests that cannot
win.

When a ticket goes on sale, many buyers ask for it at the same moment. Only one of them can
get it (the unique `Order.reservation` decides, across every replica), so every other request
that goes the whole way - read the ticket, insert, collide, look up the holder - costs three
database operations, while the winner and everyone else wait behind them. Two hints cut that
short; neither is ever taken as the truth.

`HeldTickets` remembers the tickets this process recently saw held (it made their order, or
an insert collided on them). A request for such a ticket first asks the database, in one
read through the unique index, whether an order still holds it: if one does, that is the
answer (400, or the order itself for the request that made it, sent again); if none does
(the order was cancelled meanwhile, here or in another replica), the hint is dropped and the
request reserves as usual.

`InFlight` lets the first request for a ticket (the leader) go to the database, and makes
the requests for the same ticket that arrive while it is there wait for its outcome:

- the leader made an order: the ticket is held by it, so a follower is refused at once
  (400), or - when it is the very request that made the order, sent again with its
  `X-Request-ID` - answered with that order, without touching the database;
- the leader made nothing (the ticket is unknown, held by an order made elsewhere, or the
  database failed): each follower then reserves on its own, as if it had come alone.

A follower's answer is what the database would have told it: it arrived while the leader
was reserving, and from the leader's insert until the follower's answer the ticket is held
by the leader's order (no one else knows that order yet, so no one can have cancelled it).
Nothing is kept once the leader is done; correctness never rests on this process's memory.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


HINTS_KEPT = 10_000
"""How many held tickets `HeldTickets` remembers (the most recently seen): a few hundred
kilobytes; a ticket forgotten only costs its next buyer the usual way."""


class HeldTickets(Generic[K]):
    """The tickets this process recently saw held by an order (a hint: verify, then act)."""

    def __init__(self, capacity: int = HINTS_KEPT) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[K, None] = OrderedDict()

    def __contains__(self, ticket_id: K) -> bool:
        return ticket_id in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, ticket_id: K) -> None:
        self._seen[ticket_id] = None
        self._seen.move_to_end(ticket_id)
        if len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    def discard(self, ticket_id: K) -> None:
        self._seen.pop(ticket_id, None)


class Leading(Generic[R]):
    """The leader's side: what it made, told to its followers when it is done."""

    def __init__(self) -> None:
        self.made: R | None = None


class InFlight(Generic[K, R]):
    """At most one request per key at the database at a time; the others learn its result."""

    def __init__(self) -> None:
        self._leaders: dict[K, asyncio.Future[R | None]] = {}

    async def made_by_leader(self, key: K) -> R | None:
        """What the request in flight for `key` made, once it is done: None when there is
        none in flight, or when it made nothing (the caller then goes ahead on its own)."""
        leader = self._leaders.get(key)
        if leader is None:
            return None
        # A cancelled follower must not cancel the leader's outcome for the others.
        return await asyncio.shield(leader)

    @asynccontextmanager
    async def leading(self, key: K) -> AsyncIterator[Leading[R]]:
        """Lead the requests for `key` (or, when another already leads, go alone): whatever
        is set on the yielded `Leading.made` reaches the followers, also when the block
        raises (then nothing was made, and they go ahead on their own)."""
        if key in self._leaders:
            yield Leading()  # a follower whose leader made nothing: not a leader itself
            return
        outcome: asyncio.Future[R | None] = asyncio.get_running_loop().create_future()
        self._leaders[key] = outcome
        leading: Leading[R] = Leading()
        try:
            yield leading
        finally:
            del self._leaders[key]
            outcome.set_result(leading.made)

    def __len__(self) -> int:
        """How many keys are being reserved now."""
        return len(self._leaders)
