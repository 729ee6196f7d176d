"""Error pages. The common handlers answer JSON (right for the API services); a person
browsing the client gets an HTML page in the site layout instead, with the right status."""

from __future__ import annotations

import logging
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from client.api import ApiUnavailable, api_for
from client.csrf import CsrfError
from client.pages import render
from common.errors import CustomError

logger = logging.getLogger(__name__)

_PAGES: dict[int, tuple[str, str]] = {
    400: ("Something is wrong with that request", "Please go back and try again."),
    401: ("Please sign in", "You need to be signed in to see this page."),
    403: (
        "This form has expired",
        "For your security we could not accept it. Go back, reload the page and try again.",
    ),
    404: ("Page not found", "We could not find the page you were looking for."),
    405: ("Not allowed", "That action is not available here."),
    500: ("Something went wrong", "An unexpected error happened on our side. Please try again."),
    502: (
        "We can't reach our servers right now",
        "The service is not answering at the moment. Please try again in a little while.",
    ),
    503: (
        "Temporarily unavailable",
        "Part of the site is temporarily unavailable. Please try again in a minute.",
    ),
}


class PageError(Exception):
    """Raise from a route to answer with an error page (`title`/`message` override defaults)."""

    def __init__(self, status_code: int, title: str | None = None, message: str | None = None):
        super().__init__(title or str(status_code))
        self.status_code = status_code
        self.title = title
        self.message = message


async def error_page(
    request: Request,
    status_code: int,
    title: str | None = None,
    message: str | None = None,
    *,
    look_up_user: bool = True,
) -> HTMLResponse:
    fallback = _PAGES[400 if status_code < 500 else 500]
    default_title, default_message = _PAGES.get(status_code, fallback)
    user: dict[str, Any] | None = None
    if look_up_user:
        try:  # the header should still say who is signed in; an error page must not fail
            user = await api_for(request).current_user()
        except Exception:
            user = None
    return render(
        request,
        "error.html",
        {
            "status_code": status_code,
            "title": title or default_title,
            "message": message or default_message,
        },
        user=user,
        status_code=status_code,
    )


def install_html_error_handlers(app: FastAPI) -> None:
    """Replace the JSON handlers every service has (`common.errors`) with HTML pages."""

    async def page_error(request: Request, exc: Exception) -> HTMLResponse:
        exc = cast(PageError, exc)  # the handler of PageError only
        return await error_page(request, exc.status_code, exc.title, exc.message)

    async def http_error(request: Request, exc: Exception) -> HTMLResponse:
        exc = cast(StarletteHTTPException, exc)  # the handler of StarletteHTTPException only
        response = await error_page(request, exc.status_code)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def custom_error(request: Request, exc: Exception) -> HTMLResponse:
        exc = cast(CustomError, exc)  # the handler of CustomError only
        return await error_page(request, exc.status_code)

    async def validation_error(request: Request, exc: Exception) -> HTMLResponse:
        return await error_page(request, 400)

    async def csrf_error(request: Request, exc: Exception) -> HTMLResponse:
        return await error_page(request, 403)

    async def api_unavailable(request: Request, exc: Exception) -> HTMLResponse:
        exc = cast(ApiUnavailable, exc)  # the handler of ApiUnavailable only
        # The API said it cannot serve now (503: a database or a service is down) and may
        # soon again; anything else (unreachable, 500, 502, 504) is a bad gateway for us.
        status = 503 if exc.status == 503 else 502
        return await error_page(request, status, look_up_user=False)

    async def unexpected_error(request: Request, exc: Exception) -> HTMLResponse:
        logger.exception("Unhandled error on %s %s", request.method, request.url.path)
        return await error_page(request, 500, look_up_user=False)

    app.add_exception_handler(PageError, page_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(CustomError, custom_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(CsrfError, csrf_error)
    app.add_exception_handler(ApiUnavailable, api_unavailable)
    app.add_exception_handler(Exception, unexpected_error)
