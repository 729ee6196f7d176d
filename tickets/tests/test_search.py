"""`GET /api/tickets?q=`: tickets for sale whose title has every word asked for, paged."""

from collections.abc import Callable
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

from testsupport.events import order_created
from testsupport.plugin import Deliver, stored
from tickets.events.listeners import OrderCreatedListener
from tickets.models import Ticket
from tickets.search import ensure_search_index

Auth = Callable[..., dict[str, str]]


async def sell(client: AsyncClient, auth: Auth, title: str) -> str:
    response = await client.post("/api/tickets", json={"title": title, "price": 20}, headers=auth())
    assert response.status_code == 201
    return str(response.json()["id"])


async def titles(client: AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/tickets", params=params)
    assert response.status_code == 200
    return [ticket["title"] for ticket in response.json()]


async def test_finds_titles_with_every_word_ignoring_case_and_accents(
    client: AsyncClient, auth: Auth
) -> None:
    for title in ("Jazz night, Fri 12 May", "Jazz brunch", "Rock night", "Café Jazz NIGHT"):
        await sell(client, auth, title)
    assert await titles(client, q="jazz") == [
        "Jazz night, Fri 12 May",
        "Jazz brunch",
        "Café Jazz NIGHT",
    ]
    assert await titles(client, q="NIGHT jazz") == ["Jazz night, Fri 12 May", "Café Jazz NIGHT"]
    assert await titles(client, q="cafe") == ["Café Jazz NIGHT"]
    assert await titles(client, q="jaz") == [], "whole words only"
    assert await titles(client, q="opera") == []


async def test_reserved_tickets_are_not_found(
    client: AsyncClient, auth: Auth, deliver: Deliver
) -> None:
    free = await sell(client, auth, "jazz one")
    held = await sell(client, auth, "jazz two")
    await deliver(order_created(ticket_id=held), to=OrderCreatedListener)
    response = await client.get("/api/tickets", params={"q": "jazz"})
    assert [t["id"] for t in response.json()] == [free]


async def test_an_edited_title_is_found_by_its_new_words(client: AsyncClient, auth: Auth) -> None:
    owner = auth("0123456789abcdef01234567")
    response = await client.post(
        "/api/tickets", json={"title": "jazz night", "price": 20}, headers=owner
    )
    ticket_id = response.json()["id"]
    edited = await client.put(
        f"/api/tickets/{ticket_id}", json={"title": "blues night", "price": 20}, headers=owner
    )
    assert edited.status_code == 200
    assert await titles(client, q="jazz") == []
    assert await titles(client, q="blues") == ["blues night"]


async def test_search_pages_with_limit_and_after(client: AsyncClient, auth: Auth) -> None:
    ids = [await sell(client, auth, f"jazz {n}") for n in range(5)]
    await sell(client, auth, "rock 0")
    seen: list[str] = []
    params: dict[str, Any] = {"q": "jazz", "limit": 2}
    while page := (await client.get("/api/tickets", params=params)).json():
        assert len(page) <= 2
        seen += [t["id"] for t in page]
        params["after"] = page[-1]["id"]
    assert seen == ids


async def test_blank_q_is_the_plain_listing(client: AsyncClient, auth: Auth) -> None:
    await sell(client, auth, "jazz")
    await sell(client, auth, "rock")
    assert await titles(client, q="  ") == ["jazz", "rock"]


async def test_bad_searches_are_refused_in_the_error_shape(client: AsyncClient) -> None:
    for q, message in (
        ("!!! ???", "Search must contain a word"),
        ("x" * 201, "Search must be at most 200 characters"),
        (" ".join(f"w{n}" for n in range(11)), "Search must be at most 10 words"),
    ):
        response = await client.get("/api/tickets", params={"q": q})
        assert response.status_code == 400, q
        assert response.json() == {"errors": [{"message": message, "field": "q"}]}


async def test_tickets_stored_before_search_are_given_their_words(client: AsyncClient) -> None:
    """A document written without `words` (before this version) is found after start-up."""
    ticket_id = PydanticObjectId()
    await Ticket.get_pymongo_collection().insert_one(
        {"_id": ticket_id, "title": "Old Jazz", "price_cents": 2000, "user_id": "a" * 24,
         "version": 0, "order_id": None, "held_by": [], "released": [], "outbox": []}
    )  # fmt: skip
    await ensure_search_index()
    assert (await stored(Ticket, ticket_id)).words == ["old", "jazz"]
    assert await titles(client, q="jazz") == ["Old Jazz"]
