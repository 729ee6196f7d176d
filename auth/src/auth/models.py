from datetime import datetime
from typing import Annotated, ClassVar

from beanie import Document, Indexed
from pymongo import ASCENDING, IndexModel

from common.outbox import OutboxDocument

SIGNIN_FAILURE_WINDOW_SECONDS = 15 * 60
"""How long a failed sign-in counts against its email and its client address."""


class User(Document):
    email: Annotated[str, Indexed(unique=True)]
    password: str
    """An argon2 hash (salted, slow); never the password itself."""

    class Settings:
        name = "users"


class RevokedSession(OutboxDocument):
    """A signed-out token (`id` is its `jti`), kept until it would have expired; its
    `outbox` holds the put into the revoked-sessions bucket until NATS has it."""

    id: str  # type: ignore[assignment]  # a string id (Beanie declares ObjectId)
    expires_at: datetime

    class Settings:
        name = "revoked_sessions"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0)
        ]


class SigninSlot(Document):
    """One of the slots of a throttling key (`email:<email>` or `client:<address>`; `id` is
    `<key>#<n>`): it holds an attempt while it runs (`pending`), then its failure from `at`.
    MongoDB removes it once it has left the window (see `auth.throttle`)."""

    id: str  # type: ignore[assignment]  # a string id (Beanie declares ObjectId)
    key: str
    attempt: str
    pending: bool
    at: datetime

    class Settings:
        name = "signin_slots"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel([("key", ASCENDING)]),
            IndexModel([("attempt", ASCENDING)]),
            IndexModel([("at", ASCENDING)], expireAfterSeconds=SIGNIN_FAILURE_WINDOW_SECONDS),
        ]
