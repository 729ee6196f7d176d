"""Rendering pages: the Jinja2 environment, the shared layout context, redirects."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from client import csrf
from client.api import Api, ApiResponse
from client.display import moment, money

PACKAGE_DIR = Path(__file__).parent
STATIC_DIR = PACKAGE_DIR / "static"
templates = Jinja2Templates(directory=PACKAGE_DIR / "templates")
templates.env.filters["money"] = money
templates.env.filters["moment"] = moment

_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _fingerprints() -> dict[str, str]:
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()[:10]
        for path in STATIC_DIR.iterdir()
        if path.is_file()
    }


_STATIC_VERSIONS = _fingerprints()


def static_url(name: str) -> str:
    """`/static/<name>?v=<content hash>`, so a new release is never hidden by a browser cache."""
    version = _STATIC_VERSIONS.get(name)
    return f"/static/{name}?v={version}" if version else f"/static/{name}"


templates.env.globals["static_url"] = static_url


def valid_id(value: str) -> bool:
    """Ids go into API paths; anything but a plain token is not a page of ours."""
    return bool(_ID.match(value))


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: dict[str, Any] | None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page in the site layout; sets the CSRF cookie when this visitor had none yet."""
    full = {
        "current_user": user,
        "csrf_field": csrf.FIELD,
        "csrf_token": csrf.token_for(request),
        "path": request.url.path,
        **(context or {}),
    }
    response = templates.TemplateResponse(request, template, full, status_code=status_code)
    csrf.attach_cookie(request, response)
    response.headers["Cache-Control"] = "no-store"
    return response


async def live_url(request: Request, events_path: str) -> str | None:
    """The URL of a page's live events (`/events/...?after=<the stream's position now>`), or
    None when live updates are unavailable (the page is then a plain page)."""
    from client.dependencies import client_of  # the dependencies build what pages use

    after = await client_of(request).live.position()
    return f"{events_path}?after={after}" if after is not None else None


def redirect(url: str, api_response: ApiResponse | None = None) -> RedirectResponse:
    """303 See Other (a POST answered with a GET), passing the API's Set-Cookie along."""
    response = RedirectResponse(url, status_code=303)
    if api_response is not None:
        for cookie in api_response.set_cookies:
            response.headers.append("set-cookie", cookie)
    return response


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to return to after signing in; never another site (`//evil`, `http:`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/auth/signin?next={quote(target, safe='/')}", status_code=303)


async def signed_in_listing(
    request: Request, api: Api, path: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | RedirectResponse:
    """The signed-in visitor and the list the API answers at `path` (the visitor's own orders
    or tickets), asked for together; a redirect to sign in when there is no session or the
    API does not accept it."""
    if not api.session:
        return signin_redirect(request)
    user, listing = await asyncio.gather(api.current_user(), api.get(path))
    if not user or listing.status == 401:
        return signin_redirect(request)
    body = listing.body if listing.ok and isinstance(listing.body, list) else []
    return user, [item for item in body if isinstance(item, dict)]
