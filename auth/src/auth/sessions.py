"""Signing in (throttled) and signing out (the token is revoked everywhere)."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo.errors import DuplicateKeyError
from starlette.datastructures import State

from auth.models import RevokedSession, User
from auth.passwords import verify_password
from auth.throttle import begin_signin
from common.errors import BadRequestError
from common.revocation import revocation_subject, revocation_value
from common.session import SessionClaims


async def sign_in(email: str, password: str, address: str) -> User:
    """The user these credentials name; 429 when throttled, 400 when wrong."""
    attempt = await begin_signin(email, address)
    user = await User.find_one(User.email == email)
    if not await verify_password(user.password if user else None, password) or user is None:
        await attempt.failed()
        raise BadRequestError("Invalid credentials")
    await attempt.succeeded()
    return user


async def revoke(claims: SessionClaims, state: State) -> None:
    """Revoke the token: at once in this process, and in every service through the
    revoked-sessions bucket (stored first, so a NATS outage only delays it)."""
    revocation = RevokedSession(id=claims.jti, expires_at=datetime.fromtimestamp(claims.exp, UTC))
    revocation.record_message(revocation_subject(claims.jti), revocation_value(claims.exp))
    try:
        await revocation.insert()
    except DuplicateKeyError:
        return  # revoked already (signed out twice with the same cookie)
    finally:
        state.revoked_sessions.add(claims.jti, claims.exp)
    if state.relay is not None:
        await state.relay.flush(revocation)
