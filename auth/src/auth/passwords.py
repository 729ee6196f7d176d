"""Password hashing with argon2id. Hashing is slow on purpose, so it runs off the event loop.

The cost is OWASP's minimum for argon2id (19 MiB of memory, 2 passes, 1 lane): each hash
takes tens of milliseconds of one core and 19 MiB while it runs. Hashes stored with other
parameters (older, costlier ones) still verify, and are replaced on the next successful
sign-in (`PasswordCheck.upgraded`).

At most `CONCURRENT_HASHES` hashes run at once (one per core: more would only queue inside
the CPU and multiply the memory). A request waits for its turn on the event loop, holding no
worker thread while it waits, and is dropped (`ClientGone`) rather than hashed for when its
client has disconnected by the time its turn comes: a burst of impatient clients that retry
costs one hash per request still wanted, not one per request ever sent.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from anyio import to_thread
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from common.errors import CustomError, ErrorEntry

MEMORY_KIB = 19 * 1024
TIME_COST = 2
PARALLELISM = 1

CONCURRENT_HASHES = max(1, os.cpu_count() or 1)
"""Hashes running at once in one process (read when its event loop first hashes)."""

DISCONNECT_CHECK_SECONDS = 0.25
"""While a request waits for a hashing slot, how often it looks whether its client left."""

_hasher = PasswordHasher(
    time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID
)
_DUMMY_HASH = _hasher.hash("not-a-real-password")

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)
"""The hashing slots of each event loop (a semaphore belongs to one loop)."""

ClientLeft = Callable[[], Awaitable[bool]]
"""Whether the requesting client has disconnected (`Request.is_disconnected`)."""

T = TypeVar("T")


class ClientGone(CustomError):
    """The client disconnected before its password was hashed: nobody reads this answer
    (499, as nginx logs a request its client closed)."""

    status_code = 499

    def __init__(self) -> None:
        super().__init__("Client closed the request")

    def serialize_errors(self) -> list[ErrorEntry]:
        return [{"message": "Client closed the request"}]


@dataclass(frozen=True)
class PasswordCheck:
    matches: bool
    upgraded: str | None = None
    """A hash of the password at the current parameters, when it matched a hash stored with
    other ones: store it in place of the old."""


def hashing_slots() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(CONCURRENT_HASHES)
    return slots


async def _hash_in_turn(work: Callable[[], T], client_left: ClientLeft | None) -> T:
    """Run `work` in a worker thread once a slot is free and if the client is still there."""
    slots = hashing_slots()
    while True:
        if client_left is not None and await client_left():
            raise ClientGone
        try:
            await asyncio.wait_for(slots.acquire(), DISCONNECT_CHECK_SECONDS)
            break
        except TimeoutError:
            continue
    try:
        if client_left is not None and await client_left():
            raise ClientGone
        return await to_thread.run_sync(work)
    finally:
        slots.release()


async def hash_password(password: str, client_left: ClientLeft | None = None) -> str:
    return await _hash_in_turn(lambda: _hasher.hash(password), client_left)


async def check_password(
    stored_hash: str | None, supplied: str, client_left: ClientLeft | None = None
) -> PasswordCheck:
    """Whether `supplied` matches `stored_hash`, and its upgraded hash when the stored one has
    old parameters. Without a stored hash it still spends the same time, so an unknown email
    cannot be told from a wrong password by timing."""

    def check() -> PasswordCheck:
        try:
            matches = _hasher.verify(stored_hash or _DUMMY_HASH, supplied)
        except (VerificationError, InvalidHashError):
            return PasswordCheck(matches=False)
        if stored_hash is None or not matches:
            return PasswordCheck(matches=False)
        if _hasher.check_needs_rehash(stored_hash):
            return PasswordCheck(matches=True, upgraded=_hasher.hash(supplied))
        return PasswordCheck(matches=True)

    return await _hash_in_turn(check, client_left)
