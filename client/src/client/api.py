"""A small wrapper over httpx for calling the API (the ingress) during server-side rendering.

Every call carries the visitor's session cookie, so the API sees the same person the browser
is, the visitor's `Host`, so an ingress that routes by host name (`ticketing.dev` in the
cluster, where `API_BASE_URL` is the ingress controller's in-cluster address) routes the call
as it routed the page, the visitor's address, signed (`X-Visitor-Address`), so that auth
counts failed sign-ins against the visitor rather than against the client, and the visitor's
request's `X-Request-ID`, so a form sent again by the ingress to another client process
creates nothing twice. Answers come back as `ApiResponse` (status, JSON body, raw `Set-Cookie`
headers) so pages can show errors next to their fields and pass a new session cookie on to
the browser.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import Request

from client.dependencies import client_of
from common.client_address import VISITOR_ADDRESS_HEADER, client_address, sign_visitor_address
from common.idempotency import REQUEST_ID_HEADER, request_id
from common.session import COOKIE_NAME

logger = logging.getLogger(__name__)


class ApiUnavailable(Exception):
    """The API could not be reached or failed (5xx): the page cannot be rendered.

    `status` is the API's answer (None when it could not be reached at all), `answer` its
    body when there was one."""

    def __init__(
        self, message: str, status: int | None = None, answer: ApiResponse | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer


@dataclass
class ApiResponse:
    status: int
    body: Any
    set_cookies: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def errors(self) -> list[dict[str, str]]:
        """The contract's `{"errors": [{message, field?}]}` entries, or one generic entry."""
        if isinstance(self.body, dict) and isinstance(self.body.get("errors"), list):
            entries = [
                {k: str(v) for k, v in e.items() if k in ("message", "field") and v is not None}
                for e in self.body["errors"]
                if isinstance(e, dict) and e.get("message")
            ]
            if entries:
                return entries
        return [{"message": "Something went wrong. Please try again."}]


class Api:
    """The API as seen by one visitor (their session cookie, if any)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        session: str | None,
        host: str | None = None,
        visitor_address: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """`visitor_address` is a signed `X-Visitor-Address` value."""
        self.http = http
        self.session = session
        self.host = host
        self.visitor_address = visitor_address
        self.request_id = request_id
        """The visitor's request's `X-Request-ID`, passed on: when the ingress retries the
        visitor's POST on another client process, the API recognises the repeat."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str | int] | None = None,
    ) -> ApiResponse:
        headers = {"Accept": "application/json"}
        if self.session:
            headers["Cookie"] = f"{COOKIE_NAME}={self.session}"
        if self.host:
            headers["Host"] = self.host
        if self.visitor_address:
            headers[VISITOR_ADDRESS_HEADER] = self.visitor_address
        if self.request_id:
            headers[REQUEST_ID_HEADER] = self.request_id
        try:
            response = await self.http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as error:
            logger.warning("API %s %s failed: %r", method, path, error)
            raise ApiUnavailable(f"{method} {path}: {error!r}") from error
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        answer = ApiResponse(response.status_code, body, response.headers.get_list("set-cookie"))
        if response.status_code >= 500:
            logger.warning("API %s %s answered %s", method, path, response.status_code)
            raise ApiUnavailable(
                f"{method} {path}: {response.status_code}", response.status_code, answer
            )
        return answer

    async def get(self, path: str, params: dict[str, str | int] | None = None) -> ApiResponse:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None) -> ApiResponse:
        return await self.request("POST", path, json=json if json is not None else {})

    async def put(self, path: str, json: Any) -> ApiResponse:
        return await self.request("PUT", path, json=json)

    async def delete(self, path: str) -> ApiResponse:
        return await self.request("DELETE", path)

    async def current_user(self) -> dict[str, Any] | None:
        """The signed-in visitor, or None; without a session cookie the API is not asked."""
        if not self.session:
            return None
        response = await self.get("/api/users/currentuser")
        user = response.body.get("currentUser") if isinstance(response.body, dict) else None
        return user if isinstance(user, dict) else None


def api_for(request: Request) -> Api:
    """The API client for this request's visitor."""
    return Api(
        client_of(request).http,
        request.cookies.get(COOKIE_NAME),
        request.headers.get("host"),
        sign_visitor_address(client_address(request), client_of(request).csrf_secret),
        request_id(request),
    )


async def get_api(request: Request) -> Api:
    """`api_for` as a FastAPI dependency (async: FastAPI runs a plain function in a worker
    thread)."""
    return api_for(request)


REPLICA_WAIT_SECONDS = 5.0
"""How long a POST may wait for something another service has only just created."""


async def post_allowing_lag(
    api: Api,
    path: str,
    body: Any,
    exists: Callable[[], Awaitable[bool]],
    wait: float | None = None,
) -> ApiResponse:
    """POST, and when the answer is 404 although `exists()` says the thing is there, try
    again for a few seconds. A ticket reaches orders, and an order reaches payments, through
    events a moment after it was created, and a person can click faster than that."""
    deadline = time.monotonic() + (REPLICA_WAIT_SECONDS if wait is None else wait)
    delay = 0.1
    while True:
        result = await api.post(path, body)
        if result.status != 404 or time.monotonic() + delay > deadline or not await exists():
            return result
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
