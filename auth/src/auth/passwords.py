"""Password hashing with argon2. Hashing is slow on purpose, so it runs off the event loop."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await run_in_threadpool(_hasher.hash, password)


async def verify_password(stored_hash: str | None, supplied: str) -> bool:
    """True when `supplied` matches. Without a stored hash it still spends the same time,
    so an unknown email cannot be told from a wrong password by timing."""

    def verify() -> bool:
        try:
            return _hasher.verify(stored_hash or _DUMMY_HASH, supplied) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    return await run_in_threadpool(verify)
