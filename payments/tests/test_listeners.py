"""The order replica, fed by order:created and order:cancelled."""

from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from fastapi import FastAPI

from common.events.listener import Listener
from common.events.schemas import CancelledOrderTicket, OrderCancelled, OrderCreated, OrderTicket
from common.events.subjects import OrderStatus, Subjects
from payments.events.listeners.order_cancelled import OrderCancelledListener
from payments.events.listeners.order_created import OrderCreatedListener
from payments.models import Order, PaymentState
from testsupport.doubles import FakeMsg


def listener(app: FastAPI, kind: type[Listener[Any]]) -> Listener[Any]:
    (found,) = [each for each in app.state.listeners if isinstance(each, kind)]
    return found


def order_created(price: float = 15.5) -> OrderCreated:
    return OrderCreated(
        id=str(PydanticObjectId()),
        version=0,
        status=OrderStatus.CREATED,
        user_id=str(PydanticObjectId()),
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        ticket=OrderTicket(id=str(PydanticObjectId()), price=price),
    )


def order_cancelled(order_id: str, version: int) -> OrderCancelled:
    return OrderCancelled(
        id=order_id, version=version, ticket=CancelledOrderTicket(id=str(PydanticObjectId()))
    )


async def replica(order_id: str) -> Order:
    order = await Order.get(PydanticObjectId(order_id))
    assert order is not None
    return order


def test_listeners_subjects_and_group() -> None:
    assert OrderCreatedListener.subject == Subjects.ORDER_CREATED
    assert OrderCancelledListener.subject == Subjects.ORDER_CANCELLED
    assert OrderCreatedListener.queue_group == "payments-service"
    assert OrderCancelledListener.queue_group == "payments-service"


async def test_order_created_replicates_the_order_and_acks(app: FastAPI) -> None:
    event = order_created(price=15.5)
    msg = FakeMsg.of(event)

    await listener(app, OrderCreatedListener).handle(msg)

    assert msg.acked
    order = await replica(event.id)
    assert str(order.id) == event.id
    assert (order.version, order.user_id, order.price_cents, order.status) == (
        0,
        event.user_id,
        1550,
        OrderStatus.CREATED,
    )
    assert order.payment_state is None
    assert order.expires_at == event.expires_at.replace(
        microsecond=event.expires_at.microsecond // 1000 * 1000
    ), "kept to the millisecond, as BSON dates are"
    assert not order.has_expired()


async def test_a_duplicate_order_created_is_acked_and_changes_nothing(app: FastAPI) -> None:
    event = order_created()
    await listener(app, OrderCreatedListener).handle(FakeMsg.of(event))
    await apply_cancelled(app, event.id, 1)

    again = FakeMsg.of(event, delivered=2)
    await listener(app, OrderCreatedListener).handle(again)

    assert again.acked
    assert await Order.find_all().count() == 1
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)


async def apply_cancelled(app: FastAPI, order_id: str, version: int) -> FakeMsg:
    msg = FakeMsg.of(order_cancelled(order_id, version))
    await listener(app, OrderCancelledListener).handle(msg)
    return msg


async def test_order_cancelled_marks_the_replica_cancelled(app: FastAPI) -> None:
    event = order_created()
    await listener(app, OrderCreatedListener).handle(FakeMsg.of(event))

    msg = await apply_cancelled(app, event.id, 1)

    assert msg.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)


async def test_a_future_order_cancelled_is_left_for_redelivery(app: FastAPI) -> None:
    event = order_created()
    await listener(app, OrderCreatedListener).handle(FakeMsg.of(event))

    ahead = await apply_cancelled(app, event.id, 2)
    unknown = await apply_cancelled(app, str(PydanticObjectId()), 1)

    assert ahead.naked
    assert not ahead.acked
    assert unknown.naked
    assert not unknown.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (0, OrderStatus.CREATED)


async def test_an_old_or_repeated_order_cancelled_is_acked_and_ignored(app: FastAPI) -> None:
    event = order_created()
    await listener(app, OrderCreatedListener).handle(FakeMsg.of(event))
    await apply_cancelled(app, event.id, 1)

    repeated = await apply_cancelled(app, event.id, 1)

    assert repeated.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)


async def test_order_cancelled_applies_to_a_paid_order_without_jamming(app: FastAPI) -> None:
    """Orders never publishes its completion, so the replica's version stays the one of the
    last event: a later order:cancelled still applies (and the payment is kept)."""
    event = order_created()
    await listener(app, OrderCreatedListener).handle(FakeMsg.of(event))
    await Order.mark_paid(PydanticObjectId(event.id))

    msg = await apply_cancelled(app, event.id, 1)

    assert msg.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)
    assert order.payment_state == PaymentState.PAID


async def test_an_order_created_without_a_ticket_price_is_terminated(app: FastAPI) -> None:
    data = order_created().to_wire()
    del data["ticket"]["price"]
    msg = FakeMsg.of(data)

    await listener(app, OrderCreatedListener).handle(msg)

    assert msg.termed
    assert await Order.find_all().count() == 0
