"""Requests that cannot win a ticket are answered early (`orders.reservations`), and the hints
that let them never refuse a ticket that is free or the request that made the order."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from common.events.schemas import ExpirationComplete
from orders.dependencies import OrdersDependencies
from orders.events.listeners import ExpirationCompleteListener
from orders.models import Order, Ticket
from orders.reservations import HeldTickets
from testsupport.plugin import Deliver

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]
BUYER = "0123456789abcdef01234567"


class Attempts:
    """Counts the ticket reads and order inserts that reservations make."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        self.inserts = 0
        find_replica, insert = Ticket.find_replica, Order.insert_with_event

        async def counted_find(ticket_id: Any) -> Ticket | None:
            self.reads += 1
            return await find_replica(ticket_id)

        async def counted_insert(order: Order, make_event: Any) -> Order:
            self.inserts += 1
            return await insert(order, make_event)

        monkeypatch.setattr(Ticket, "find_replica", counted_find)
        monkeypatch.setattr(Order, "insert_with_event", counted_insert)


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> Attempts:
    return Attempts(monkeypatch)


async def buy(client: AsyncClient, ticket: Ticket, headers: dict[str, str]) -> Any:
    return await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=headers)


async def test_a_buyer_of_a_ticket_seen_held_neither_reads_it_nor_inserts(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, attempts: Attempts
) -> None:
    ticket = await make_ticket()
    assert (await buy(client, ticket, auth())).status_code == 201
    assert (attempts.reads, attempts.inserts) == (1, 1)
    for _ in range(3):
        refused = await buy(client, ticket, {**auth(), "X-Request-ID": "a-request-0001"})
        assert refused.status_code == 400
        assert refused.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert (attempts.reads, attempts.inserts) == (1, 1)
    assert await Order.count() == 1


async def test_a_ticket_freed_since_it_was_seen_held_is_reserved(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, deliver: Deliver
) -> None:
    ticket = await make_ticket()
    first = (await buy(client, ticket, auth(BUYER))).json()
    assert (await buy(client, ticket, auth())).status_code == 400
    # Cancelled by expiration (in any replica): the ticket is free again.
    msg = await deliver(ExpirationComplete(order_id=first["id"]), to=ExpirationCompleteListener)
    assert msg.acked
    again = await buy(client, ticket, auth())
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first["id"]
    assert await Order.find({"reservation": str(ticket.id)}).count() == 1


async def test_a_ticket_freed_by_a_cancellation_is_reserved(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    first = (await buy(client, ticket, auth(BUYER))).json()
    cancelled = await client.delete(f"/api/orders/{first['id']}", headers=auth(BUYER))
    assert cancelled.status_code == 204
    assert (await buy(client, ticket, auth())).status_code == 201


async def test_the_request_that_made_a_held_ticket_s_order_gets_it_again(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    headers = {**auth(BUYER), "X-Request-ID": "9e2d7c1a0b3f4e5d"}
    first = await buy(client, ticket, headers)
    assert (await buy(client, ticket, auth())).status_code == 400  # the ticket is seen held
    again = await buy(client, ticket, headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    other_user = await buy(client, ticket, {**auth(), "X-Request-ID": "9e2d7c1a0b3f4e5d"})
    assert other_user.status_code == 400
    assert await Order.count() == 1


async def test_simultaneous_buyers_in_one_process_make_one_insert(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    attempts: Attempts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While one request reserves a ticket, the others for it wait for its order and are
    refused from it: the database sees one reservation, not fifty."""
    buyers = 50
    service = dependencies_of_app(app).orders
    arrived = 0
    all_arrived = asyncio.Event()
    reserve, insert = service.reserve, Order.insert_with_event

    async def counted_reserve(*args: Any) -> Any:
        nonlocal arrived
        arrived += 1
        if arrived == buyers:
            all_arrived.set()
        return await reserve(*args)

    async def insert_once_all_arrived(order: Order, make_event: Any) -> Order:
        await asyncio.wait_for(all_arrived.wait(), timeout=30)
        return await insert(order, make_event)

    monkeypatch.setattr(service, "reserve", counted_reserve)
    monkeypatch.setattr(Order, "insert_with_event", insert_once_all_arrived)
    ticket = await make_ticket()
    responses = await asyncio.gather(*[buy(client, ticket, auth()) for _ in range(buyers)])
    statuses = [response.status_code for response in responses]
    assert (statuses.count(201), statuses.count(400)) == (1, buyers - 1)
    assert (attempts.reads, attempts.inserts) == (1, 1)
    assert await Order.count() == 1
    assert len(service.in_flight) == 0


async def test_the_same_request_sent_twice_at_once_gets_one_order(
    app: FastAPI, client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    headers = {**auth(BUYER), "X-Request-ID": "9e2d7c1a0b3f4e5d"}
    first, second = await asyncio.gather(buy(client, ticket, headers), buy(client, ticket, headers))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    assert await Order.count() == 1


def dependencies_of_app(app: FastAPI) -> OrdersDependencies:
    dependencies = app.state.dependencies
    assert isinstance(dependencies, OrdersDependencies)
    return dependencies


def test_held_tickets_remember_the_most_recent_ones_only() -> None:
    held: HeldTickets[str] = HeldTickets(capacity=3)
    for ticket in ("a", "b", "c"):
        held.add(ticket)
    held.add("a")  # seen again: now the most recent
    held.add("d")
    assert ("b" in held, "a" in held, "c" in held, "d" in held) == (False, True, True, True)
    held.discard("c")
    held.discard("c")
    assert len(held) == 2
