from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient

from tickets.models import Ticket

Auth = Callable[..., dict[str, str]]


async def make_ticket(n: int, reserved_by: str | None = None) -> Ticket:
    ticket = Ticket(title=f"concert {n}", price_cents=(10 + n) * 100, user_id="a" * 24)
    if reserved_by:
        ticket.hold(reserved_by)
    return await ticket.insert()


async def test_lists_tickets(client: AsyncClient, auth: Auth) -> None:
    for title in ("one", "two", "three"):
        await client.post("/api/tickets", json={"title": title, "price": 20}, headers=auth())
    response = await client.get("/api/tickets")
    assert response.status_code == 200
    assert [ticket["title"] for ticket in response.json()] == ["one", "two", "three"]
    assert set(response.json()[0]) == {"id", "title", "price", "userId", "version", "orderId"}


async def test_reserved_tickets_are_not_listed(client: AsyncClient) -> None:
    free = await make_ticket(1)
    await make_ticket(2, reserved_by="b" * 24)
    response = await client.get("/api/tickets")
    assert [ticket["id"] for ticket in response.json()] == [str(free.id)]


async def test_pages_walk_every_unreserved_ticket_once(client: AsyncClient) -> None:
    tickets = [
        await make_ticket(n, reserved_by=f"{n:024x}" if n % 3 == 0 else None) for n in range(10)
    ]
    expected = [str(t.id) for t in tickets if t.order_id is None]

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        page = (await client.get("/api/tickets", params=params)).json()
        pages += 1
        assert len(page) <= 3
        if not page:
            break
        seen += [ticket["id"] for ticket in page]
        params = {"limit": 3, "after": page[-1]["id"]}
    assert seen == expected
    assert pages == 3  # 6 unreserved tickets: 3 + 3, then an empty page


async def test_after_without_limit_returns_the_rest(client: AsyncClient) -> None:
    tickets = [await make_ticket(n) for n in range(4)]
    response = await client.get("/api/tickets", params={"after": str(tickets[1].id)})
    assert [t["id"] for t in response.json()] == [str(t.id) for t in tickets[2:]]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "2.5"])
async def test_bad_limit_is_400(client: AsyncClient, limit: str) -> None:
    response = await client.get("/api/tickets", params={"limit": limit})
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == ["limit"]


@pytest.mark.parametrize("after", ["nope", "", "123"])
async def test_bad_after_is_400(client: AsyncClient, after: str) -> None:
    response = await client.get("/api/tickets", params={"limit": 5, "after": after})
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "After must be a ticket id", "field": "after"}]
    }


async def test_limit_bounds_are_accepted(client: AsyncClient) -> None:
    await make_ticket(1)
    await make_ticket(2)
    assert len((await client.get("/api/tickets", params={"limit": 1})).json()) == 1
    assert len((await client.get("/api/tickets", params={"limit": 100})).json()) == 2
