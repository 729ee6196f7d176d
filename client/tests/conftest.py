"""The client against a fake API: respx answers the calls the client makes to API_BASE_URL,
and records them, so tests can assert what was forwarded (cookie, JSON body)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from client.app import service as client_service
from client.settings import ClientSettings
from common.service import ServiceSpec
from common.session import COOKIE_NAME, issue_token

API = "http://api.test"
USER = {"id": "a1b2c3d4e5f6a1b2c3d4e5f6", "email": "buyer@example.com", "iat": 1700000000}

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def api() -> respx.MockRouter:
    """The fake API. Unmocked calls fail the request loudly (assert_all_mocked)."""
    return respx.MockRouter(base_url=API, assert_all_called=False, assert_all_mocked=True)


@pytest.fixture
def service(api: respx.MockRouter) -> ServiceSpec[Any, Any]:
    """The client, calling the fake API instead of the network."""
    return client_service(transport=httpx.MockTransport(api.async_handler))


@pytest.fixture
def settings(jwt_key: str) -> ClientSettings:
    return ClientSettings(JWT_KEY=jwt_key, API_BASE_URL=API, STRIPE_PUBLISHABLE_KEY=None)


@pytest.fixture
def base_url() -> str:
    """The visitor's browser asks for this host (the client passes it on to the API)."""
    return "http://testserver"


@pytest.fixture
def session_token(jwt_key: str) -> str:
    return issue_token(str(USER["id"]), str(USER["email"]), jwt_key)


@pytest.fixture
def sign_in(
    api: respx.MockRouter, client: httpx.AsyncClient, session_token: str
) -> Callable[[], respx.Route]:
    """Give the browser a session cookie and make the API recognise it."""

    def do() -> respx.Route:
        client.cookies.set(COOKIE_NAME, session_token)
        return api.get("/api/users/currentuser").respond(200, json={"currentUser": USER})

    return do


async def csrf_token(client: httpx.AsyncClient, page: str = "/auth/signin") -> str:
    """Open a page with a form, as a browser would, and read the form's CSRF token."""
    response = await client.get(page)
    match = _CSRF.search(response.text)
    assert match, f"no CSRF field on {page} ({response.status_code})"
    return match.group(1)


@pytest.fixture
def signed_in(sign_in: Callable[[], respx.Route]) -> respx.Route:
    """The visitor is signed in; the API's answer to "who is this" (a route, to inspect)."""
    return sign_in()


@pytest.fixture
def form_token(client: httpx.AsyncClient) -> Callable[..., Awaitable[str]]:
    async def get(page: str = "/auth/signin") -> str:
        return await csrf_token(client, page)

    return get


@pytest.fixture
def submit(client: httpx.AsyncClient) -> Callable[..., Awaitable[httpx.Response]]:
    """`await submit(page, to=action, **fields)`: the visitor opens `page`, fills its form in
    with `fields` and sends it, with the form's CSRF token, to `to` (by default `page`)."""

    async def send(page: str, to: str | None = None, **fields: str) -> httpx.Response:
        token = await csrf_token(client, page)
        return await client.post(to or page, data={**fields, "csrf_token": token})

    return send


def make_ticket(**overrides: Any) -> dict[str, Any]:
    ticket = {
        "id": "6560f0c2a1b2c3d4e5f60001",
        "title": "Jazz night",
        "price": 20,
        "userId": "f00000000000000000000001",
        "version": 0,
        "orderId": None,
    }
    return {**ticket, **overrides}


def make_order(
    status: str = "created", expires_in: float = 600, **overrides: Any
) -> dict[str, Any]:
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    order = {
        "id": "6560f0c2a1b2c3d4e5f6aaaa",
        "userId": USER["id"],
        "status": status,
        "expiresAt": expires_at.isoformat().replace("+00:00", "Z"),
        "version": 0,
        "ticket": {
            "id": "6560f0c2a1b2c3d4e5f60001",
            "title": "Jazz night",
            "price": 20,
            "version": 1,
        },
    }
    return {**order, **overrides}


@pytest.fixture
def ticket_factory() -> Callable[..., dict[str, Any]]:
    return make_ticket


@pytest.fixture
def api_has_ticket(api: respx.MockRouter) -> Callable[..., respx.Route]:
    """`api_has_ticket(**fields)`: the API shows the ticket `make_ticket(**fields)` (its
    route, to inspect, is returned)."""

    def serve(**fields: Any) -> respx.Route:
        ticket = make_ticket(**fields)
        return api.get(f"/api/tickets/{ticket['id']}").respond(200, json=ticket)

    return serve


@pytest.fixture
def api_has_order(api: respx.MockRouter) -> Callable[..., respx.Route]:
    """`api_has_order(status=..., expires_in=..., **fields)`: the API shows the order
    `make_order(...)` to its buyer (its route, to inspect, is returned)."""

    def serve(**fields: Any) -> respx.Route:
        order = make_order(**fields)
        return api.get(f"/api/orders/{order['id']}").respond(200, json=order)

    return serve


@pytest.fixture
def order_factory() -> Callable[..., dict[str, Any]]:
    return make_order


@pytest.fixture
def user() -> dict[str, Any]:
    return dict(USER)
