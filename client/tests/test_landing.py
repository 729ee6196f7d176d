from collections.abc import Callable
from typing import Any

import httpx
import respx

from testsupport.doubles import refusal


async def test_landing_lists_tickets_for_sale_with_price_and_link(
    client: httpx.AsyncClient, api: respx.MockRouter, ticket_factory: Callable[..., Any]
) -> None:
    listing = api.get("/api/tickets").respond(
        200,
        json=[
            ticket_factory(id="aaaaaaaaaaaaaaaaaaaaaaa1", title="Jazz night", price=20),
            ticket_factory(id="aaaaaaaaaaaaaaaaaaaaaaa2", title="Cup final", price=1250.5),
        ],
    )
    current = api.get("/api/users/currentuser")

    response = await client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "Jazz night" in html
    assert "$20.00" in html
    assert "Cup final" in html
    assert "$1,250.50" in html
    assert 'href="/tickets/aaaaaaaaaaaaaaaaaaaaaaa1"' in html
    assert 'href="/tickets/aaaaaaaaaaaaaaaaaaaaaaa2"' in html
    assert listing.calls.last.request.url.params["limit"] == "25"
    # Signed out: no session cookie, so the API is not even asked who this is.
    assert not current.called
    assert 'href="/auth/signup"' in html
    assert 'href="/auth/signin"' in html
    assert "Sign out" not in html
    assert "My orders" not in html


async def test_header_when_signed_in_and_cookie_forwarded(
    client: httpx.AsyncClient, api: respx.MockRouter, signed_in: respx.Route, session_token: str
) -> None:
    listing = api.get("/api/tickets").respond(200, json=[])

    response = await client.get("/")

    html = response.text
    assert response.status_code == 200
    assert 'href="/tickets/new"' in html
    assert "Sell tickets" in html
    assert 'href="/orders"' in html
    assert "My orders" in html
    assert 'action="/auth/signout"' in html
    assert "Sign out" in html
    assert "buyer@example.com" in html
    assert 'href="/auth/signup"' not in html
    for route in (signed_in, listing):
        assert route.calls.last.request.headers["cookie"] == f"session={session_token}"
        # The visitor's host goes along: an ingress routing by host name routes it the same.
        assert route.calls.last.request.headers["host"] == "testserver"


async def test_tampered_session_shows_signed_out_header(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    client.cookies.set("session", "not-a-valid-token")
    api.get("/api/users/currentuser").respond(200, json={"currentUser": None})
    api.get("/api/tickets").respond(200, json=[])

    html = (await client.get("/")).text

    assert 'href="/auth/signin"' in html
    assert "Sign out" not in html


async def test_landing_pages_through_a_large_catalogue(
    client: httpx.AsyncClient, api: respx.MockRouter, ticket_factory: Callable[..., Any]
) -> None:
    page = [ticket_factory(id=f"{i:024x}", title=f"Show {i}") for i in range(1, 26)]
    listing = api.get("/api/tickets").respond(200, json=page)

    html = (await client.get("/")).text

    assert "Show 24" in html
    assert "Show 25" not in html
    assert f'href="/?after={24:024x}"' in html

    await client.get(f"/?after={24:024x}")
    assert listing.calls.last.request.url.params["after"] == f"{24:024x}"


async def test_landing_without_paging_support_shows_everything(
    client: httpx.AsyncClient, api: respx.MockRouter, ticket_factory: Callable[..., Any]
) -> None:
    api.get("/api/tickets").respond(
        200, json=[ticket_factory(id=f"{i:024x}", title=f"Show {i}") for i in range(1, 41)]
    )

    html = (await client.get("/")).text

    assert "Show 1<" in html
    assert "Show 40<" in html
    assert "?after=" not in html


async def test_empty_landing_invites_to_sell(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets").respond(200, json=[])

    response = await client.get("/")

    assert response.status_code == 200
    assert "No tickets for sale right now" in response.text


async def test_api_down_is_an_error_page_not_a_crash(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets").mock(side_effect=httpx.ConnectError("refused"))

    response = await client.get("/")

    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert "reach our servers" in response.text


async def test_api_unavailable_is_an_honest_temporarily_unavailable_page(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets").respond(503, json=refusal("The database is unavailable."))

    response = await client.get("/")

    assert response.status_code == 503
    assert response.headers["content-type"].startswith("text/html")
    assert "Temporarily unavailable" in response.text
    assert "try again in a minute" in response.text


async def test_api_failing_with_500_is_still_a_bad_gateway_page(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets").respond(500, json=refusal("Something went wrong"))

    response = await client.get("/")

    assert response.status_code == 502
    assert "reach our servers" in response.text
