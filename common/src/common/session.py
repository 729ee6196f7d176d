"""The session cookie: a JWT `{id, email, iat, exp, jti}` signed with HS256 and `JWT_KEY`.

`exp` is `iat` plus the session lifetime (`SESSION_TTL_SECONDS`); `jti` names the token so
that signing out can revoke it (see `common.revocation`). Every HTTP service learns who is
calling through `current_user` / `require_auth` only: a token that is tampered with,
malformed, expired, lacks `exp` or `jti`, or has been revoked is no session.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request, Response
from jose import JWTError, jwt
from pydantic import BaseModel, ConfigDict, ValidationError

from common.errors import NotAuthorizedError
from common.revocation import RevocationWatcher, RevokedSessions

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
    """Everything a session token carries (read-only: the claims of a token are shared by
    the requests that carry it)."""

    model_config = ConfigDict(frozen=True)

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
    return str(jwt.encode(claims, jwt_key, algorithm=ALGORITHM))


def read_token(token: str, jwt_key: str) -> SessionClaims | None:
    """The claims of a valid token; None for a tampered, expired or malformed one."""
    claims = verified_claims(token, jwt_key)
    return None if claims is None or is_expired(claims) else claims


def verified_claims(token: str, jwt_key: str) -> SessionClaims | None:
    """The claims of a token signed with `jwt_key` and complete, expired or not; None for a
    tampered or malformed one."""
    try:
        claims = jwt.decode(token, jwt_key, algorithms=[ALGORITHM], options={"verify_exp": False})
        return SessionClaims.model_validate(claims)
    except (JWTError, ValidationError):
        return None


def is_expired(claims: SessionClaims) -> bool:
    """Whether the token's `exp` has passed (the second of `exp` itself still counts)."""
    return claims.exp < int(time.time())


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", path="/", secure=secure)


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)


VERIFIED_TOKENS_KEPT = 4096
"""How many recently seen tokens a service keeps verified (a few MiB at most)."""


@dataclass
class SessionReader:
    """How a service issues and reads session tokens: its key, the sessions' lifetime, and
    the revoked token ids it follows (held in memory, so reading a token costs no I/O).

    A token's signature is checked once: the claims of the tokens seen last are kept, by the
    token's exact text (which includes its signature), so a client's next request costs a
    dictionary look-up. Expiry and revocation are checked on every read."""

    jwt_key: str
    ttl_seconds: int
    revoked: RevokedSessions = field(default_factory=RevokedSessions)
    watcher: RevocationWatcher | None = None
    """Follows the revoked-sessions bucket (set when the service reads sessions)."""
    _verified: Callable[[str], SessionClaims | None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        jwt_key = self.jwt_key

        @lru_cache(maxsize=VERIFIED_TOKENS_KEPT)
        def verified(token: str) -> SessionClaims | None:
            return verified_claims(token, jwt_key)

        self._verified = verified

    def issue(self, user_id: str, email: str) -> str:
        return issue_token(user_id, email, self.jwt_key, self.ttl_seconds)

    def read(self, token: str) -> SessionClaims | None:
        """The token's session; None when it is invalid, expired or revoked."""
        claims = self._verified(token)
        if claims is None or is_expired(claims) or claims.jti in self.revoked:
            return None
        return claims


def session_of(request: Request) -> SessionClaims | None:
    """The caller's session, or None when the cookie is absent, invalid, expired or revoked."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    sessions: SessionReader = request.app.state.sessions
    return sessions.read(token)


async def current_user(request: Request) -> SessionClaims | None:
    """`session_of` as a route's dependency."""
    return session_of(request)


async def require_auth(request: Request) -> SessionClaims:
    """The caller's session as a route's dependency; 401 without one. It reads the session
    itself rather than through `current_user`: one dependency for FastAPI to solve per
    request, not two."""
    user = session_of(request)
    if user is None:
        raise NotAuthorizedError()
    return user


CurrentUser = Annotated[SessionClaims | None, Depends(current_user)]
RequiredUser = Annotated[SessionClaims, Depends(require_auth)]
