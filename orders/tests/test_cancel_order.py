from collections.abc import Callable
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

from common.events.subjects import OrderStatus
from orders.models import Order, Ticket
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import stored

Auth = Callable[..., dict[str, str]]
Headers = dict[str, str]
OrderBody = dict[str, Any]


async def test_marks_the_order_cancelled(
    order: OrderBody, buyer: Headers, client: AsyncClient
) -> None:
    response = await client.delete(f"/api/orders/{order['id']}", headers=buyer)
    assert response.status_code == 204
    assert response.content == b""
    cancelled = await stored(Order, order["id"])
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.version == 1


async def test_publishes_order_cancelled(
    order: OrderBody,
    ticket: Ticket,
    buyer: Headers,
    client: AsyncClient,
    publisher: RecordingPublisher,
) -> None:
    await client.delete(f"/api/orders/{order['id']}", headers=buyer)
    assert publisher.subjects() == ["order:created", "order:cancelled"]
    assert publisher.of("order:cancelled") == [
        {"id": order["id"], "version": 1, "ticket": {"id": str(ticket.id)}}
    ]


async def test_cancelling_frees_the_ticket(
    order: OrderBody, ticket: Ticket, buyer: Headers, client: AsyncClient, auth: Auth
) -> None:
    await client.delete(f"/api/orders/{order['id']}", headers=buyer)
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 201


async def test_404_when_there_is_no_such_order(client: AsyncClient, auth: Auth) -> None:
    response = await client.delete(f"/api/orders/{PydanticObjectId()}", headers=auth())
    assert response.status_code == 404
    assert (await client.delete("/api/orders/bad-id", headers=auth())).status_code == 404


async def test_401_for_another_users_order(
    order: OrderBody, client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    response = await client.delete(f"/api/orders/{order['id']}", headers=auth())
    assert response.status_code == 401
    assert (await stored(Order, order["id"])).status == OrderStatus.CREATED
    assert publisher.subjects() == ["order:created"]


async def test_401_when_signed_out(order: OrderBody, client: AsyncClient) -> None:
    assert (await client.delete(f"/api/orders/{order['id']}")).status_code == 401


async def test_a_complete_order_cannot_be_cancelled(
    order: OrderBody, buyer: Headers, client: AsyncClient, publisher: RecordingPublisher
) -> None:
    complete = await stored(Order, order["id"])
    complete.complete()
    await complete.save_next_version()

    response = await client.delete(f"/api/orders/{order['id']}", headers=buyer)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Cannot cancel a completed order"}]}
    assert (await stored(Order, order["id"])).status == OrderStatus.COMPLETE
    assert publisher.subjects() == ["order:created"]


async def test_cancelling_a_cancelled_order_changes_nothing(
    cancelled_order: OrderBody, buyer: Headers, client: AsyncClient, publisher: RecordingPublisher
) -> None:
    order = cancelled_order
    response = await client.delete(f"/api/orders/{order['id']}", headers=buyer)
    assert response.status_code == 204
    assert (await stored(Order, order["id"])).version == 1
    assert publisher.subjects() == ["order:created", "order:cancelled"]
