"""The list and its pages are answered from the replica's catalogue (`tickets.catalogue`):
one database read for many requests, never older than its window, showing at once a change
made by the same replica, and the same answer as the tickets show one by one."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from testsupport.apps import running
from testsupport.doubles import FakeMsg, RecordingPublisher
from testsupport.events import order_cancelled, order_created
from testsupport.plugin import listener_of
from tickets.app import SERVICE
from tickets.events.listeners import OrderCancelledListener, OrderCreatedListener
from tickets.models import Ticket
from tickets.service import TicketService
from tickets.settings import TicketsSettings

Auth = Callable[..., dict[str, str]]
SELLER = "0123456789abcdef01234567"


def ticket_service(app: FastAPI) -> TicketService:
    service: TicketService = app.state.dependencies.tickets
    return service


def keep_the_list_for(app: FastAPI, seconds: float) -> None:
    ticket_service(app).for_sale.max_age = seconds


async def listed_ids(client: AsyncClient, **params: Any) -> list[str]:
    response = await client.get("/api/tickets", params=params)
    assert response.status_code == 200
    return [ticket["id"] for ticket in response.json()]


async def sold_directly(title: str = "concert") -> Ticket:
    """A ticket stored by someone else than this replica (another replica's write)."""
    return await Ticket(title=title, price_cents=2000, user_id=SELLER).insert()


async def test_the_list_is_the_one_each_ticket_shows(client: AsyncClient, auth: Auth) -> None:
    bodies: list[dict[str, Any]] = [
        {"title": "Jazz night", "price": 20},
        {"title": "Ünïcödé, 東京 🎫", "price": 19.99},
        {"title": "Opera", "price": "0.50"},
        {"title": "Final", "price": 1_000_000},
        {"title": "Cup", "price": 12.1},
    ]
    for body in bodies:
        assert (await client.post("/api/tickets", json=body, headers=auth())).status_code == 201
    legacy = Ticket.get_pymongo_collection()
    await legacy.insert_one(  # a ticket stored before prices were kept in cents
        {"title": "Old", "price": 33.3, "user_id": SELLER, "version": 2, "outbox": []}
    )

    params: dict[str, Any]
    for params in ({}, {"limit": 100}):
        listed = (await client.get("/api/tickets", params=params)).json()
        assert [ticket["title"] for ticket in listed] == [b["title"] for b in bodies] + ["Old"]
        for ticket in listed:
            shown = await client.get(f"/api/tickets/{ticket['id']}")
            assert ticket == shown.json()
    prices = [ticket["price"] for ticket in listed]
    assert prices == [20, 19.99, 0.5, 1_000_000, 12.1, 33.3]
    assert [type(price) for price in prices] == [int, float, float, int, float, float]


async def test_the_catalogue_answers_from_one_read_until_this_replica_changes_a_ticket(
    app: FastAPI, client: AsyncClient, auth: Auth
) -> None:
    keep_the_list_for(app, 60)
    first = await sold_directly("first")
    assert await listed_ids(client) == [str(first.id)]

    elsewhere = await sold_directly("stored by another replica")
    assert await listed_ids(client) == [str(first.id)]  # the catalogue, within its window
    assert await listed_ids(client, limit=10) == [str(first.id)]  # pages too

    created = await client.post("/api/tickets", json={"title": "here", "price": 5}, headers=auth())
    assert await listed_ids(client) == [str(first.id), str(elsewhere.id), created.json()["id"]]


async def test_a_ticket_reserved_or_freed_here_leaves_or_rejoins_the_list_at_once(
    app: FastAPI, client: AsyncClient
) -> None:
    keep_the_list_for(app, 60)
    ticket = await sold_directly()
    assert await listed_ids(client) == [str(ticket.id)]
    order_id = str(PydanticObjectId())

    reserved = FakeMsg.of(order_created(order_id=order_id, ticket_id=str(ticket.id)))
    await listener_of(app, OrderCreatedListener).handle(reserved)
    assert reserved.acked
    assert await listed_ids(client) == []

    freed = FakeMsg.of(order_cancelled(order_id, ticket_id=str(ticket.id)))
    await listener_of(app, OrderCancelledListener).handle(freed)
    assert freed.acked
    assert await listed_ids(client) == [str(ticket.id)]


async def test_an_owner_edit_here_shows_at_once(
    app: FastAPI, client: AsyncClient, auth: Auth
) -> None:
    keep_the_list_for(app, 60)
    created = await client.post(
        "/api/tickets", json={"title": "old", "price": 5}, headers=auth(SELLER)
    )
    assert [t["title"] for t in (await client.get("/api/tickets")).json()] == ["old"]
    edited = await client.put(
        f"/api/tickets/{created.json()['id']}",
        json={"title": "new", "price": 6},
        headers=auth(SELLER),
    )
    assert edited.status_code == 200
    assert [(t["title"], t["price"]) for t in (await client.get("/api/tickets")).json()] == [
        ("new", 6)
    ]


@pytest.fixture
async def other_replica(
    settings: TicketsSettings, app: FastAPI
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """A second replica of the service on the same database (its own shared list)."""
    async with running(SERVICE.create_app(settings, publisher=RecordingPublisher())) as other:
        transport = ASGITransport(app=other, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://test") as http:
            yield other, http


async def test_a_ticket_reserved_by_another_replica_is_not_listed_once_the_window_has_passed(
    app: FastAPI, client: AsyncClient, other_replica: tuple[FastAPI, AsyncClient]
) -> None:
    other, other_client = other_replica
    window = 0.3
    keep_the_list_for(app, window)
    ticket, kept = await sold_directly("reserved"), await sold_directly("kept")
    assert await listed_ids(client) == [str(ticket.id), str(kept.id)]

    reserved = FakeMsg.of(order_created(order_id=str(PydanticObjectId()), ticket_id=str(ticket.id)))
    await listener_of(other, OrderCreatedListener).handle(reserved)
    assert reserved.acked
    assert await listed_ids(other_client) == [str(kept.id)]  # the replica that reserved it

    await asyncio.sleep(window)  # however slow the machine: a window counted from the read
    assert await listed_ids(client) == [str(kept.id)]


async def test_the_list_is_never_older_than_its_window(
    app: FastAPI, client: AsyncClient, other_replica: tuple[FastAPI, AsyncClient]
) -> None:
    """Requests keep coming while another replica changes the list: every answer read after
    the window has passed since the change shows it."""
    other, _ = other_replica
    window = 0.2
    keep_the_list_for(app, window)
    tickets = [await sold_directly(f"t{n}") for n in range(5)]
    for ticket in tickets:
        assert str(ticket.id) in await listed_ids(client)
        reserved = FakeMsg.of(
            order_created(order_id=str(PydanticObjectId()), ticket_id=str(ticket.id))
        )
        await listener_of(other, OrderCreatedListener).handle(reserved)
        changed_at = asyncio.get_running_loop().time()
        while True:
            asked_at = asyncio.get_running_loop().time()
            listed = await listed_ids(client)
            if asked_at - changed_at >= window:
                assert str(ticket.id) not in listed
                break
