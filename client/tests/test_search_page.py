"""The search box of the landing page: `/?q=words` asks `GET /api/tickets?q=`."""

from collections.abc import Callable
from typing import Any

import httpx
import respx

from testsupport.doubles import refusal


async def test_landing_has_a_search_box(client: httpx.AsyncClient, api: respx.MockRouter) -> None:
    api.get("/api/tickets").respond(200, json=[])
    html = (await client.get("/")).text
    assert '<form class="search" method="get" action="/" role="search">' in html
    assert '<input id="q" name="q" type="search" value=""' in html


async def test_search_asks_the_api_and_shows_what_matches(
    client: httpx.AsyncClient, api: respx.MockRouter, ticket_factory: Callable[..., Any]
) -> None:
    listing = api.get("/api/tickets").respond(
        200, json=[ticket_factory(id="a" * 24, title="Jazz night")]
    )

    response = await client.get("/", params={"q": "  jazz night "})

    assert response.status_code == 200
    params = listing.calls.last.request.url.params
    assert (params["q"], params["limit"]) == ("jazz night", "25")
    html = response.text
    assert "Jazz night" in html
    assert 'value="jazz night"' in html
    assert "Tickets matching <strong>jazz night</strong>" in html


async def test_search_pages_keep_the_query(
    client: httpx.AsyncClient, api: respx.MockRouter, ticket_factory: Callable[..., Any]
) -> None:
    page = [ticket_factory(id=f"{n:024x}", title=f"jazz {n}") for n in range(1, 26)]
    listing = api.get("/api/tickets").respond(200, json=page)

    html = (await client.get("/", params={"q": "jazz & blues"})).text

    assert f'href="/?q=jazz+%26+blues&amp;after={24:024x}"' in html
    await client.get("/", params={"q": "jazz & blues", "after": f"{24:024x}"})
    params = listing.calls.last.request.url.params
    assert (params["q"], params["after"]) == ("jazz & blues", f"{24:024x}")
    assert (
        'href="/?q=jazz+%26+blues"'
        in (await client.get("/", params={"q": "jazz & blues", "after": f"{24:024x}"})).text
    ), "the first page of the same search"


async def test_nothing_found_says_so(client: httpx.AsyncClient, api: respx.MockRouter) -> None:
    api.get("/api/tickets").respond(200, json=[])
    html = (await client.get("/?q=opera")).text
    assert "No tickets match your search" in html


async def test_a_search_the_api_refuses_shows_why_next_to_the_box(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets").respond(400, json=refusal("Search must contain a word", "q"))
    response = await client.get("/?q=%21%21%21")
    assert response.status_code == 200
    assert '<p class="search-error" id="q-error" role="alert">Search must contain a word</p>' in (
        response.text
    )
    assert 'aria-invalid="true"' in response.text


async def test_blank_search_is_the_plain_landing(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    listing = api.get("/api/tickets").respond(200, json=[])
    await client.get("/?q=+++")
    assert "q" not in listing.calls.last.request.url.params
