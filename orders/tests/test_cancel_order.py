from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

from common.events.subjects import OrderStatus
from orders.models import Order, Ticket
from testsupport.doubles import RecordingPublisher

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]
BUYER = "0123456789abcdef01234567"


async def place_order(client: AsyncClient, auth: Auth, ticket: Ticket) -> dict[str, Any]:
    response = await client.post(
        "/api/orders", json={"ticketId": str(ticket.id)}, headers=auth(BUYER)
    )
    assert response.status_code == 201
    return dict(response.json())


async def stored(order_id: str) -> Order:
    order = await Order.get(order_id)
    assert order is not None
    return order


async def test_marks_the_order_cancelled(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    order = await place_order(client, auth, await make_ticket())
    response = await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    assert response.status_code == 204
    assert response.content == b""
    cancelled = await stored(order["id"])
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.version == 1


async def test_publishes_order_cancelled(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, publisher: RecordingPublisher
) -> None:
    ticket = await make_ticket()
    order = await place_order(client, auth, ticket)
    await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    assert publisher.subjects() == ["order:created", "order:cancelled"]
    assert publisher.of("order:cancelled") == [
        {"id": order["id"], "version": 1, "ticket": {"id": str(ticket.id)}}
    ]


async def test_cancelling_frees_the_ticket(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    order = await place_order(client, auth, ticket)
    await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 201


async def test_404_when_there_is_no_such_order(client: AsyncClient, auth: Auth) -> None:
    response = await client.delete(f"/api/orders/{PydanticObjectId()}", headers=auth())
    assert response.status_code == 404
    assert (await client.delete("/api/orders/bad-id", headers=auth())).status_code == 404


async def test_401_for_another_users_order(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, publisher: RecordingPublisher
) -> None:
    order = await place_order(client, auth, await make_ticket())
    response = await client.delete(f"/api/orders/{order['id']}", headers=auth())
    assert response.status_code == 401
    assert (await stored(order["id"])).status == OrderStatus.CREATED
    assert publisher.subjects() == ["order:created"]


async def test_401_when_signed_out(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    order = await place_order(client, auth, await make_ticket())
    assert (await client.delete(f"/api/orders/{order['id']}")).status_code == 401


async def test_a_complete_order_cannot_be_cancelled(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, publisher: RecordingPublisher
) -> None:
    order = await place_order(client, auth, await make_ticket())
    complete = await stored(order["id"])
    complete.complete()
    await complete.save_next_version()

    response = await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Cannot cancel a completed order"}]}
    assert (await stored(order["id"])).status == OrderStatus.COMPLETE
    assert publisher.subjects() == ["order:created"]


async def test_cancelling_a_cancelled_order_changes_nothing(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, publisher: RecordingPublisher
) -> None:
    order = await place_order(client, auth, await make_ticket())
    await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    response = await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    assert response.status_code == 204
    assert (await stored(order["id"])).version == 1
    assert publisher.subjects() == ["order:created", "order:cancelled"]
