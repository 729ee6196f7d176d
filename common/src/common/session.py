"""The session cookie: a JWT `{id, email, iat, exp, jti}` signed with HS256 and `JWT_KEY`.

`exp` is `iat` plus the session lifetime (`SESSION_TTL_SECONDS`); `jti` names the token so
that signing out can revoke it (see `common.revocation`). Every HTTP service learns who is
calling through `current_user` / `require_auth` only: a token that is tampered with,
malformed, expired, lacks `exp` or `jti`, or has been revoked is no session.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from fastapi import Depends, Request, Response
from jose import JWTError, jwt
from pydantic import BaseModel, ValidationError

from common.errors import NotAuthorizedError
from common.revocation import RevokedSessions

COOKIE_NAME = "session"
ALGORITHM = "HS256"
DEFAULT_SESSION_TTL_SECONDS = 86400
"""The contract's default session lifetime (`SESSION_TTL_SECONDS`): one day."""


class UserPayload(BaseModel):
    """The signed-in user, as `GET /api/users/currentuser` shows it."""

    id: str
    email: str
    iat: int


class SessionClaims(UserPayload):
    """Everything a session token carries."""

    exp: int
    jti: str

    def user(self) -> UserPayload:
        return UserPayload(id=self.id, email=self.email, iat=self.iat)


def issue_token(
    user_id: str,
    email: str,
    jwt_key: str,
    ttl_seconds: int = DEFAULT_SESSION_TTL_SECONDS,
    *,
    issued_at: int | None = None,
) -> str:
    """A new session token for the user, valid for `ttl_seconds` from `issued_at` (now)."""
    iat = int(time.time()) if issued_at is None else issued_at
    claims = {
        "id": user_id,
        "email": email,
        "iat": iat,
        "exp": iat + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, jwt_key, algorithm=ALGORITHM)


def read_token(token: str, jwt_key: str) -> SessionClaims | None:
    """The claims of a valid token; None for a tampered, expired or malformed one."""
    try:
        claims = jwt.decode(token, jwt_key, algorithms=[ALGORITHM])
        return SessionClaims.model_validate(claims)
    except (JWTError, ValidationError):
        return None


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", path="/", secure=secure)


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)


async def current_user(request: Request) -> SessionClaims | None:
    """The caller's session, or None when the cookie is absent, invalid, expired or revoked.

    Revocations are held in memory (`app.state.revoked_sessions`), so this costs no I/O."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    claims = read_token(token, request.app.state.jwt_key)
    if claims is None:
        return None
    revoked: RevokedSessions = request.app.state.revoked_sessions
    if claims.jti in revoked:
        return None
    return claims


async def require_auth(
    user: Annotated[SessionClaims | None, Depends(current_user)],
) -> SessionClaims:
    if user is None:
        raise NotAuthorizedError()
    return user


CurrentUser = Annotated[SessionClaims | None, Depends(current_user)]
RequiredUser = Annotated[SessionClaims, Depends(require_auth)]
