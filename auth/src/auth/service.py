"""What the auth service does: sign people up, sign them in (throttled), and sign them out
(the token is revoked in every service)."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError

from auth.models import RevokedSession, User
from auth.passwords import ClientGone, ClientLeft, check_password, hash_password
from auth.throttle import begin_signin
from common.errors import BadRequestError
from common.revocation import revocation_subject, revocation_value
from common.session import SessionReader

EMAIL_IN_USE = "Email in use"
INVALID_CREDENTIALS = "Invalid credentials"


class AuthService:
    def __init__(self, sessions: SessionReader) -> None:
        self.sessions = sessions

    async def sign_up(
        self, email: str, password: str, client_left: ClientLeft | None = None
    ) -> tuple[User, str]:
        """A new user and their session token; 400 when the email is taken."""
        if await User.find_one(User.email == email):
            raise BadRequestError(EMAIL_IN_USE, field="email")
        user = User(email=email, password=await hash_password(password, client_left))
        try:
            await user.insert()
        except DuplicateKeyError:  # a simultaneous signup with the same email won the race
            raise BadRequestError(EMAIL_IN_USE, field="email") from None
        return user, self.sessions.issue(str(user.id), user.email)

    async def sign_in(
        self, email: str, password: str, address: str, client_left: ClientLeft | None = None
    ) -> tuple[User, str]:
        """The user these credentials name and a new session token; 429 when throttled
        (`auth.throttle`), 400 when wrong. A hash with old parameters is replaced by one at
        the current parameters."""
        attempt = await begin_signin(email, address)
        user = await User.find_one(User.email == email)
        try:
            checked = await check_password(user.password if user else None, password, client_left)
        except ClientGone:
            await attempt.release()  # neither a failure nor a success: nobody is waiting
            raise
        if not checked.matches or user is None:
            await attempt.failed()
            raise BadRequestError(INVALID_CREDENTIALS)
        await attempt.succeeded()
        if checked.upgraded is not None:
            await upgrade_password(user, checked.upgraded)
        return user, self.sessions.issue(str(user.id), user.email)

    async def sign_out(self, token: str | None) -> None:
        """Revoke the token (if it is a valid one): at once in this process, and in every
        service through the revoked-sessions bucket, stored first so that a NATS outage only
        delays it (see `common.revocation`)."""
        claims = self.sessions.read(token) if token else None
        if claims is None:
            return
        revocation = RevokedSession(
            id=claims.jti, expires_at=datetime.fromtimestamp(claims.exp, UTC)
        )
        revocation.record_message(revocation_subject(claims.jti), revocation_value(claims.exp))
        try:
            await revocation.insert_with_pending()
        except DuplicateKeyError:
            return  # revoked already (signed out twice with the same cookie)
        finally:
            self.sessions.revoked.add(claims.jti, claims.exp)


async def upgrade_password(user: User, upgraded: str) -> None:
    """Store the upgraded hash, unless the password was changed since it was read."""
    await User.get_pymongo_collection().update_one(
        {"_id": user.id, "password": user.password}, {"$set": {"password": upgraded}}
    )
    user.password = upgraded
