"""expiration:complete cancels (unless settled), payment:created completes."""

from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import AsyncClient

from common.events.schemas import ExpirationComplete, PaymentCreated
from common.events.subjects import OrderStatus
from orders.events.listeners import ExpirationCompleteListener, PaymentCreatedListener
from orders.models import Order, Ticket
from testsupport.doubles import FakeMsg, RecordingPublisher
from testsupport.plugin import listener_of

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


def expired(order_id: str) -> FakeMsg:
    return FakeMsg.of(ExpirationComplete(order_id=order_id))


def paid(order_id: str) -> FakeMsg:
    return FakeMsg.of(PaymentCreated(id="pay-1", order_id=order_id, stripe_id="ch_1"))


async def test_expiration_cancels_the_order_and_publishes(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    ticket = await make_ticket()
    order = await place_order(client, auth, ticket)
    msg = expired(order["id"])
    await listener_of(app, ExpirationCompleteListener).handle(msg)
    assert msg.acked
    cancelled = await stored(order["id"])
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.version == 1
    assert publisher.of("order:cancelled") == [
        {"id": order["id"], "version": 1, "ticket": {"id": str(ticket.id)}}
    ]


async def test_expiration_frees_the_ticket(
    app: FastAPI, client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    order = await place_order(client, auth, ticket)
    await listener_of(app, ExpirationCompleteListener).handle(expired(order["id"]))
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 201


async def test_expiration_ignores_a_complete_order(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    order = await place_order(client, auth, await make_ticket())
    await listener_of(app, PaymentCreatedListener).handle(paid(order["id"]))
    msg = expired(order["id"])
    await listener_of(app, ExpirationCompleteListener).handle(msg)
    assert msg.acked
    assert (await stored(order["id"])).status == OrderStatus.COMPLETE
    assert publisher.subjects() == ["order:created"]


async def test_expiration_ignores_a_cancelled_order(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    order = await place_order(client, auth, await make_ticket())
    await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    msg = expired(order["id"])
    await listener_of(app, ExpirationCompleteListener).handle(msg)
    assert msg.acked
    assert (await stored(order["id"])).version == 1
    assert publisher.subjects() == ["order:created", "order:cancelled"]


async def test_repeated_expiration_is_harmless(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    order = await place_order(client, auth, await make_ticket())
    listener = listener_of(app, ExpirationCompleteListener)
    await listener.handle(expired(order["id"]))
    msg = expired(order["id"])
    await listener.handle(msg)
    assert msg.acked
    assert len(publisher.of("order:cancelled")) == 1


async def test_expiration_of_an_unknown_order_is_retried(app: FastAPI) -> None:
    msg = expired(str(PydanticObjectId()))
    await listener_of(app, ExpirationCompleteListener).handle(msg)
    assert msg.naked
    assert not msg.acked


async def test_payment_completes_the_order_and_publishes_nothing(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    order = await place_order(client, auth, await make_ticket())
    msg = paid(order["id"])
    await listener_of(app, PaymentCreatedListener).handle(msg)
    assert msg.acked
    complete = await stored(order["id"])
    assert complete.status == OrderStatus.COMPLETE
    assert publisher.subjects() == ["order:created"]
    shown = (await client.get(f"/api/orders/{order['id']}", headers=auth(BUYER))).json()
    assert shown["status"] == "complete"


async def test_a_complete_order_keeps_its_ticket(
    app: FastAPI, client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    order = await place_order(client, auth, ticket)
    await listener_of(app, PaymentCreatedListener).handle(paid(order["id"]))
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 400


async def test_repeated_payment_is_harmless(
    app: FastAPI, client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    order = await place_order(client, auth, await make_ticket())
    listener = listener_of(app, PaymentCreatedListener)
    await listener.handle(paid(order["id"]))
    version = (await stored(order["id"])).version
    msg = paid(order["id"])
    await listener.handle(msg)
    assert msg.acked
    assert (await stored(order["id"])).version == version


async def test_payment_for_a_cancelled_order_leaves_it_cancelled(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    order = await place_order(client, auth, await make_ticket())
    await client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER))
    msg = paid(order["id"])
    await listener_of(app, PaymentCreatedListener).handle(msg)
    assert msg.acked
    assert (await stored(order["id"])).status == OrderStatus.CANCELLED
    assert publisher.subjects() == ["order:created", "order:cancelled"]


async def test_published_order_versions_have_no_gaps(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    """What a replica of orders sees: created v0, cancelled v1; it never waits for a version."""
    order = await place_order(client, auth, await make_ticket())
    await listener_of(app, ExpirationCompleteListener).handle(expired(order["id"]))
    versions = [event.data["version"] for event in publisher.published]
    assert versions == [0, 1]
