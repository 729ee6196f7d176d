"""The orders service started on a fresh database, its events recorded (`app`, `client` and
`deliver` come from `testsupport.plugin`); makers of the tickets and orders its tests start
from."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from common.money import exact_decimal, to_cents
from common.service import ServiceSpec
from orders.app import SERVICE
from orders.models import Ticket
from orders.settings import OrdersSettings
from testsupport.apps import NO_NATS


@pytest.fixture
def service() -> ServiceSpec[Any, Any]:
    return SERVICE


@pytest.fixture
def settings(jwt_key: str, mongo_uri: str) -> OrdersSettings:
    return OrdersSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL=NO_NATS)


MakeTicket = Callable[..., Awaitable[Ticket]]
PlaceOrder = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_ticket(app: FastAPI) -> MakeTicket:
    """Store a ticket as the replica holds it after ticket:created."""

    async def make(title: str = "concert", price: float = 20, version: int = 0) -> Ticket:
        cents = to_cents(exact_decimal(price))
        return await Ticket(title=title, price_cents=cents, version=version).insert()

    return make


@pytest.fixture
def place_order(client: AsyncClient) -> PlaceOrder:
    """`await place_order(ticket, by=headers)`: the user of `headers` orders the ticket
    (through the API, which must take the order); returns the order as answered."""

    async def place(ticket: Ticket, by: dict[str, str]) -> dict[str, Any]:
        response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=by)
        assert response.status_code == 201, response.text
        return dict(response.json())

    return place


BUYER = "0123456789abcdef01234567"


@pytest.fixture
def buyer(auth: Callable[..., dict[str, str]]) -> dict[str, str]:
    """Request headers of the buyer (user `0123456789abcdef01234567`) of `order`."""
    return auth(BUYER)


@pytest.fixture
async def ticket(make_ticket: MakeTicket) -> Ticket:
    """A free ticket in the replica."""
    return await make_ticket()


@pytest.fixture
async def order(place_order: PlaceOrder, ticket: Ticket, buyer: dict[str, str]) -> dict[str, Any]:
    """The buyer's order of `ticket`, just placed (created, version 0, order:created
    published)."""
    return await place_order(ticket, by=buyer)


@pytest.fixture
async def cancelled_order(
    order: dict[str, Any], buyer: dict[str, str], client: AsyncClient
) -> dict[str, Any]:
    """`order`, which the buyer has cancelled (version 1, order:cancelled published)."""
    response = await client.delete(f"/api/orders/{order['id']}", headers=buyer)
    assert response.status_code == 204, response.text
    return order
