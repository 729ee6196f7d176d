"""The session cookie: a JWT `{id, email, iat}` signed with HS256 and `JWT_KEY`.

Every HTTP service learns who is calling through `current_user` / `require_auth` only.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request, Response
from jose import JWTError, jwt
from pydantic import BaseModel, ValidationError

from common.errors import NotAuthorizedError

COOKIE_NAME = "session"
ALGORITHM = "HS256"


class UserPayload(BaseModel):
    id: str
    email: str
    iat: int


def issue_token(user_id: str, email: str, jwt_key: str) -> str:
    return jwt.encode(
        {"id": user_id, "email": email, "iat": int(time.time())}, jwt_key, algorithm=ALGORITHM
    )


def read_token(token: str, jwt_key: str) -> UserPayload | None:
    """The payload of a valid token; None for a tampered, expired or malformed one."""
    try:
        claims = jwt.decode(token, jwt_key, algorithms=[ALGORITHM])
        return UserPayload.model_validate(claims)
    except (JWTError, ValidationError):
        return None


def set_session_cookie(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", path="/", secure=secure)


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=secure)


def current_user(request: Request) -> UserPayload | None:
    """The signed-in user, or None when the cookie is absent, tampered or expired."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    return read_token(token, request.app.state.jwt_key)


def require_auth(user: Annotated[UserPayload | None, Depends(current_user)]) -> UserPayload:
    if user is None:
        raise NotAuthorizedError()
    return user


CurrentUser = Annotated[UserPayload | None, Depends(current_user)]
RequiredUser = Annotated[UserPayload, Depends(require_auth)]
