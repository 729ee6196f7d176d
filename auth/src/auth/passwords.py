"""Password hashing with argon2. Hashing is slow on purpose, so it runs off the event loop.

Each argon2 hash uses 64 MiB of memory (the library's default cost), so at most
`CONCURRENT_HASHES` run at once: a burst of sign-ins waits its turn instead of growing the
process past its memory limit (256 Mi in Kubernetes).
"""

import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

CONCURRENT_HASHES = 2

_hasher = PasswordHasher()
_hashing_slots = threading.BoundedSemaphore(CONCURRENT_HASHES)
_DUMMY_HASH = _hasher.hash("not-a-real-password")

T = TypeVar("T")


async def _run_hashing(work: Callable[[], T]) -> T:
    def limited() -> T:
        with _hashing_slots:
            return work()

    return await run_in_threadpool(limited)


async def hash_password(password: str) -> str:
    return await _run_hashing(lambda: _hasher.hash(password))


async def verify_password(stored_hash: str | None, supplied: str) -> bool:
    """True when `supplied` matches. Without a stored hash it still spends the same time,
    so an unknown email cannot be told from a wrong password by timing."""

    def verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, supplied) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await _run_hashing(verify)
