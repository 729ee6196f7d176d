"""Failed sign-ins are throttled per email and per client address, across replicas.

After `EMAIL_LIMIT` failures for one email, or `ADDRESS_LIMIT` from one client address,
within the window, further attempts are refused with 429 and `Retry-After` (the seconds
until the oldest counted failure leaves the window), before any password is hashed. A
refused attempt is no failure; a successful sign-in clears its email's failures.

Each key (an email, a client address) has as many slots as its limit, one document each in
the database every replica shares (`SigninSlot`). An attempt must take a free slot of both
its keys before its password is checked; taking one is a single atomic write (an insert of
the slot's id, or a conditional replace of a slot whose failure has left the window). The
slot then holds the attempt while it runs, and its failure afterwards; a success frees it.
So a burst of simultaneous guesses cannot outrun the limit: at most `limit` attempts per key
are ever checked in a window. An attempt that finds every slot taken is refused when they
all hold failures, and otherwise waits for the attempts in them to end (simultaneous sign-ins
with the right password are queued, not refused). A slot whose attempt never ended (its
process died) counts as a failure once it is `STALE_AFTER` old.

Slots are written whole (insert, replace, delete), never with partial updates: that is
correct on MongoDB and keeps the types on the embedded stand-in too.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from auth.models import SIGNIN_FAILURE_WINDOW_SECONDS, SigninSlot
from common.errors import TooManyRequests

WINDOW = timedelta(seconds=SIGNIN_FAILURE_WINDOW_SECONDS)
EMAIL_LIMIT = 5
ADDRESS_LIMIT = 20
STALE_AFTER = timedelta(seconds=60)
MAX_WAIT_SECONDS = 5.0
"""How long an attempt waits for slots held by running attempts before it is refused."""
POLL_SECONDS = 0.05
MESSAGE = "Too many failed sign-ins; try again later"


def email_key(email: str) -> str:
    return f"email:{email.lower()}"


def address_key(address: str) -> str:
    return f"client:{address}"


@dataclass
class SigninAttempt:
    """An attempt holding a slot of each of its keys; `failed()` or `succeeded()` ends it."""

    id: str
    email_key: str
    slots: dict[str, str] = field(default_factory=dict)
    """The slots it holds: slot id -> key."""

    async def failed(self) -> None:
        """The slots keep the failure, counted from now."""
        now = _now()
        for slot_id, key in self.slots.items():
            failure = _slot(key, self.id, now, pending=False)
            await _slots().replace_one({"_id": slot_id, "attempt": self.id}, failure)

    async def succeeded(self) -> None:
        """The slots are freed, and so are the email's failures."""
        await _slots().delete_many({"key": self.email_key, "pending": False})
        await self.release()

    async def release(self) -> None:
        for slot_id in self.slots:
            await _slots().delete_one({"_id": slot_id, "attempt": self.id})
        self.slots.clear()


async def begin_signin(email: str, address: str) -> SigninAttempt:
    """Take a slot for `email` and one for `address`, waiting while running attempts hold
    them; raise `TooManyRequests` (429) when failures fill either."""
    limits = {email_key(email): EMAIL_LIMIT, address_key(address): ADDRESS_LIMIT}
    attempt = SigninAttempt(uuid.uuid4().hex, email_key(email))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_WAIT_SECONDS
    while True:
        try:
            if await _take_slots(attempt, limits):
                return attempt
        except BaseException:
            await attempt.release()
            raise
        if loop.time() > deadline:
            raise TooManyRequests(MESSAGE, 1)
        await asyncio.sleep(POLL_SECONDS)


async def _take_slots(attempt: SigninAttempt, limits: dict[str, int]) -> bool:
    """Take a slot of every key, or none (False: wait and try again)."""
    now = _now()
    for key, limit in limits.items():
        slot_id = await _take_slot(key, limit, attempt.id, now)
        if slot_id is None:
            await attempt.release()
            return False
        attempt.slots[slot_id] = key
    return True


async def _take_slot(key: str, limit: int, attempt_id: str, now: datetime) -> str | None:
    """Take a free slot of `key` (its id); None when running attempts hold some of them;
    raise `TooManyRequests` when failures within the window hold them all."""
    since = now - WINDOW
    held = {slot["_id"]: slot async for slot in _slots().find({"key": key})}
    mine = _slot(key, attempt_id, now, pending=True)
    for index in range(limit):
        slot_id = f"{key}#{index}"
        slot = held.get(slot_id)
        if slot is None:
            try:
                await _slots().insert_one({"_id": slot_id, **mine})
                return slot_id
            except DuplicateKeyError:
                continue  # taken meanwhile
        elif _aware(slot["at"]) < since:  # its failure has left the window
            taken = await _slots().replace_one({"_id": slot_id, "at": slot["at"]}, mine)
            if taken.modified_count:
                return slot_id
    failures = [
        _aware(slot["at"])
        for slot in held.values()
        if _aware(slot["at"]) >= since
        and (not slot["pending"] or _aware(slot["at"]) < now - STALE_AFTER)
    ]
    if len(failures) >= limit:
        raise TooManyRequests(MESSAGE, math.ceil((min(failures) + WINDOW - now).total_seconds()))
    return None


def _slot(key: str, attempt_id: str, at: datetime, *, pending: bool) -> dict[str, Any]:
    return {"key": key, "attempt": attempt_id, "pending": pending, "at": at}


def _slots() -> AsyncCollection[dict[str, Any]]:
    return SigninSlot.get_pymongo_collection()


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _now() -> datetime:
    """Now, to the millisecond (what the database stores), so stored times compare equal."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
