"""Protection of the client's own forms against cross-site posts.

Signed double submit: the `csrf` cookie (HttpOnly, SameSite=Lax) holds a random token signed
with `JWT_KEY`; every form carries the same token in a hidden `csrf_token` field. A POST is
accepted only when both are present, equal, and the signature is ours. Another site can make
a browser post a form here, but it can neither read nor set the cookie, so it cannot supply a
matching field. The session cookie's own SameSite=Lax is the first line; this is the second.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from client.dependencies import client_of

COOKIE = "csrf"
FIELD = "csrf_token"
_SALT = "client-csrf"


class CsrfError(Exception):
    """The form's token is missing or does not match the cookie."""


def _serializer(request: Request) -> URLSafeSerializer:
    return URLSafeSerializer(client_of(request).csrf_secret, salt=_SALT)


def _valid(request: Request, token: str | None) -> bool:
    if not token:
        return False
    try:
        _serializer(request).loads(token)
    except BadSignature:
        return False
    return True


def token_for(request: Request) -> str:
    """The token to put in this page's forms: the visitor's current one, or a new one."""
    token = getattr(request.state, "csrf_token", None)
    if token:
        return str(token)
    token = request.cookies.get(COOKIE)
    if not _valid(request, token):
        token = _serializer(request).dumps(secrets.token_urlsafe(32))
        request.state.csrf_issued = True
    request.state.csrf_token = token
    return str(token)


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def attach_cookie(request: Request, response: Response) -> None:
    """Set the `csrf` cookie when this request issued a new token."""
    if getattr(request.state, "csrf_issued", False):
        response.set_cookie(
            COOKIE,
            request.state.csrf_token,
            httponly=True,
            samesite="lax",
            path="/",
            secure=is_https(request),
        )


async def verify(request: Request) -> None:
    """FastAPI dependency for every form POST: raise `CsrfError` unless the tokens match."""
    form = await request.form()
    submitted = form.get(FIELD)
    cookie = request.cookies.get(COOKIE)
    if (
        not isinstance(submitted, str)
        or not cookie
        or not _valid(request, cookie)
        or not hmac.compare_digest(submitted.encode(), cookie.encode())
    ):
        raise CsrfError()
