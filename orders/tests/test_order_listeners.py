"""expiration:complete cancels (unless settled), payment:created completes."""

from collections.abc import Callable
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

from common.events.schemas import ExpirationComplete, PaymentCreated
from common.events.subjects import OrderStatus
from orders.events.listeners import ExpirationCompleteListener, PaymentCreatedListener
from orders.models import Order, Ticket
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import Deliver, stored

Auth = Callable[..., dict[str, str]]
Headers = dict[str, str]
OrderBody = dict[str, Any]


def expired(order_id: str) -> ExpirationComplete:
    return ExpirationComplete(order_id=order_id)


def paid(order_id: str) -> PaymentCreated:
    return PaymentCreated(id="pay-1", order_id=order_id, stripe_id="ch_1")


async def test_expiration_cancels_the_order_and_publishes(
    order: OrderBody, ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    msg = await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    assert msg.acked
    cancelled = await stored(Order, order["id"])
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.version == 1
    assert publisher.of("order:cancelled") == [
        {"id": order["id"], "version": 1, "ticket": {"id": str(ticket.id)}}
    ]


async def test_expiration_frees_the_ticket(
    order: OrderBody, ticket: Ticket, deliver: Deliver, client: AsyncClient, auth: Auth
) -> None:
    await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 201


async def test_expiration_ignores_a_complete_order(
    order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(paid(order["id"]), to=PaymentCreatedListener)
    msg = await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    assert msg.acked
    assert (await stored(Order, order["id"])).status == OrderStatus.COMPLETE
    assert publisher.subjects() == ["order:created", "order:completed"]


async def test_expiration_ignores_a_cancelled_order(
    cancelled_order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    order = cancelled_order
    msg = await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    assert msg.acked
    assert (await stored(Order, order["id"])).version == 1
    assert publisher.subjects() == ["order:created", "order:cancelled"]


async def test_repeated_expiration_is_harmless(
    order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    msg = await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    assert msg.acked
    assert len(publisher.of("order:cancelled")) == 1


async def test_expiration_of_an_unknown_order_is_retried(deliver: Deliver) -> None:
    msg = await deliver(expired(str(PydanticObjectId())), to=ExpirationCompleteListener)
    assert msg.naked
    assert not msg.acked


async def test_payment_completes_the_order_and_publishes_order_completed(
    order: OrderBody,
    ticket: Ticket,
    buyer: Headers,
    deliver: Deliver,
    client: AsyncClient,
    publisher: RecordingPublisher,
) -> None:
    msg = await deliver(paid(order["id"]), to=PaymentCreatedListener)
    assert msg.acked
    complete = await stored(Order, order["id"])
    assert complete.status == OrderStatus.COMPLETE
    assert complete.version == 1
    assert publisher.subjects() == ["order:created", "order:completed"]
    assert publisher.of("order:completed") == [
        {"id": order["id"], "version": 1, "ticket": {"id": str(ticket.id)}}
    ]
    shown = (await client.get(f"/api/orders/{order['id']}", headers=buyer)).json()
    assert shown["status"] == "complete"


async def test_a_complete_order_keeps_its_ticket(
    order: OrderBody, ticket: Ticket, deliver: Deliver, client: AsyncClient, auth: Auth
) -> None:
    await deliver(paid(order["id"]), to=PaymentCreatedListener)
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 400


async def test_repeated_payment_is_harmless(
    order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(paid(order["id"]), to=PaymentCreatedListener)
    version = (await stored(Order, order["id"])).version
    msg = await deliver(paid(order["id"]), to=PaymentCreatedListener)
    assert msg.acked
    assert (await stored(Order, order["id"])).version == version
    assert publisher.subjects() == ["order:created", "order:completed"]


async def test_payment_for_a_cancelled_order_leaves_it_cancelled(
    cancelled_order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    order = cancelled_order
    msg = await deliver(paid(order["id"]), to=PaymentCreatedListener)
    assert msg.acked
    assert (await stored(Order, order["id"])).status == OrderStatus.CANCELLED
    assert publisher.subjects() == ["order:created", "order:cancelled"]


async def test_published_order_versions_have_no_gaps(
    order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    """What a replica of orders sees: created v0, cancelled v1; it never waits for a version."""
    await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    versions = [event.data["version"] for event in publisher.published]
    assert versions == [0, 1]


async def test_completion_is_published_as_the_next_version(
    order: OrderBody, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    """Created v0, completed v1 (then nothing, even when the reservation runs out)."""
    await deliver(paid(order["id"]), to=PaymentCreatedListener)
    await deliver(expired(order["id"]), to=ExpirationCompleteListener)
    published = [(event.subject, event.data["version"]) for event in publisher.published]
    assert published == [("order:created", 0), ("order:completed", 1)]
