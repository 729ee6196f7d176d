from collections.abc import Awaitable, Callable
from typing import Any

from httpx import AsyncClient

from common.events.schemas import TicketUpdated
from orders.events.listeners import TicketUpdatedListener
from orders.models import Ticket
from testsupport.plugin import Deliver

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]
PlaceOrder = Callable[..., Awaitable[dict[str, Any]]]


async def test_401_when_signed_out(client: AsyncClient) -> None:
    response = await client.get("/api/orders")
    assert response.status_code == 401


async def test_fetches_the_orders_of_the_caller(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, place_order: PlaceOrder
) -> None:
    one, two, three = await make_ticket(), await make_ticket(), await make_ticket()
    user_one, user_two = auth(), auth()
    await place_order(one, by=user_one)
    order_one = await place_order(two, by=user_two)
    order_two = await place_order(three, by=user_two)

    response = await client.get("/api/orders", headers=user_two)
    assert response.status_code == 200
    assert response.json() == [order_one, order_two]
    assert [order["ticket"]["id"] for order in response.json()] == [str(two.id), str(three.id)]


async def test_orders_show_the_current_ticket(
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    place_order: PlaceOrder,
    deliver: Deliver,
) -> None:
    ticket = await make_ticket(title="old", price=10)
    user = auth()
    await place_order(ticket, by=user)
    update = TicketUpdated(id=str(ticket.id), version=1, title="new", price=12, user_id="owner")
    await deliver(update, to=TicketUpdatedListener)
    orders = (await client.get("/api/orders", headers=user)).json()
    assert orders[0]["ticket"] == {"id": str(ticket.id), "title": "new", "price": 12, "version": 1}


async def test_no_orders_is_an_empty_list(client: AsyncClient, auth: Auth) -> None:
    response = await client.get("/api/orders", headers=auth())
    assert response.status_code == 200
    assert response.json() == []
