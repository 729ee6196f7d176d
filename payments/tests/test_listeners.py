"""The order replica, fed by order:created and order:cancelled."""

from beanie import PydanticObjectId

from common.events.subjects import OrderStatus, Subjects
from payments.events.listeners.order_cancelled import OrderCancelledListener
from payments.events.listeners.order_completed import OrderCompletedListener
from payments.events.listeners.order_created import OrderCreatedListener
from payments.models import Order, PaymentState
from testsupport.events import order_cancelled, order_completed, order_created
from testsupport.plugin import Deliver, stored


async def replica(order_id: str) -> Order:
    return await stored(Order, PydanticObjectId(order_id))


def test_listeners_subjects_and_group() -> None:
    assert OrderCreatedListener.subject == Subjects.ORDER_CREATED
    assert OrderCancelledListener.subject == Subjects.ORDER_CANCELLED
    assert OrderCreatedListener.queue_group == "payments-service"
    assert OrderCancelledListener.queue_group == "payments-service"
    assert OrderCompletedListener.subject == Subjects.ORDER_COMPLETED
    assert OrderCompletedListener.queue_group == "payments-service"


async def test_order_created_replicates_the_order_and_acks(deliver: Deliver) -> None:
    event = order_created(price=15.5)  # 15 minutes left

    msg = await deliver(event, to=OrderCreatedListener)

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


async def test_a_duplicate_order_created_is_acked_and_changes_nothing(deliver: Deliver) -> None:
    event = order_created()
    await deliver(event, to=OrderCreatedListener)
    await deliver(order_cancelled(event.id, version=1), to=OrderCancelledListener)

    again = await deliver(event, to=OrderCreatedListener, delivered=2)

    assert again.acked
    assert await Order.find_all().count() == 1
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)


async def test_an_order_created_with_a_malformed_id_is_acked_and_not_stored(
    deliver: Deliver,
) -> None:
    event = order_created().model_copy(update={"id": "not-an-object-id"})

    msg = await deliver(event, to=OrderCreatedListener)

    assert msg.acked
    assert await Order.find_all().count() == 0


async def test_order_cancelled_marks_the_replica_cancelled(deliver: Deliver) -> None:
    event = order_created()
    await deliver(event, to=OrderCreatedListener)

    msg = await deliver(order_cancelled(event.id, version=1), to=OrderCancelledListener)

    assert msg.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)


async def test_a_future_order_cancelled_is_left_for_redelivery(deliver: Deliver) -> None:
    event = order_created()
    await deliver(event, to=OrderCreatedListener)

    ahead = await deliver(order_cancelled(event.id, version=2), to=OrderCancelledListener)
    unknown = await deliver(order_cancelled(str(PydanticObjectId())), to=OrderCancelledListener)

    assert ahead.naked
    assert not ahead.acked
    assert unknown.naked
    assert not unknown.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (0, OrderStatus.CREATED)


async def test_an_old_or_repeated_order_cancelled_is_acked_and_ignored(deliver: Deliver) -> None:
    event = order_created()
    await deliver(event, to=OrderCreatedListener)
    await deliver(order_cancelled(event.id, version=1), to=OrderCancelledListener)

    repeated = await deliver(order_cancelled(event.id, version=1), to=OrderCancelledListener)

    assert repeated.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)


async def test_order_cancelled_applies_to_a_paid_order_without_jamming(deliver: Deliver) -> None:
    """Marking the replica paid leaves its version alone (only orders' events move it), so
    a later order:cancelled still applies (and the payment is kept)."""
    event = order_created()
    await deliver(event, to=OrderCreatedListener)
    await Order.mark_paid(PydanticObjectId(event.id))

    msg = await deliver(order_cancelled(event.id, version=1), to=OrderCancelledListener)

    assert msg.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.CANCELLED)
    assert order.payment_state == PaymentState.PAID


async def test_an_order_created_without_a_ticket_price_is_terminated(deliver: Deliver) -> None:
    data = order_created().to_wire()
    del data["ticket"]["price"]

    msg = await deliver(data, to=OrderCreatedListener)

    assert msg.termed
    assert await Order.find_all().count() == 0


async def test_order_completed_moves_the_replica_to_the_next_version(deliver: Deliver) -> None:
    event = order_created()
    await deliver(event, to=OrderCreatedListener)
    await Order.mark_paid(PydanticObjectId(event.id))

    msg = await deliver(order_completed(event.id, version=1), to=OrderCompletedListener)

    assert msg.acked
    order = await replica(event.id)
    assert (order.version, order.status) == (1, OrderStatus.COMPLETE)
    assert order.payment_state == PaymentState.PAID


async def test_events_after_order_completed_still_apply(deliver: Deliver) -> None:
    """Versions stay applicable: whatever version 2 of the order is, the replica takes it."""
    event = order_created()
    await deliver(event, to=OrderCreatedListener)
    await deliver(order_completed(event.id, version=1), to=OrderCompletedListener)

    later = await deliver(order_cancelled(event.id, version=2), to=OrderCancelledListener)

    assert later.acked
    assert (await replica(event.id)).version == 2


async def test_order_completed_out_of_order_or_repeated(deliver: Deliver) -> None:
    event = order_created()
    await deliver(event, to=OrderCreatedListener)

    ahead = await deliver(order_completed(event.id, version=2), to=OrderCompletedListener)
    assert not ahead.acked, "a future version waits for its predecessor"
    await deliver(order_completed(event.id, version=1), to=OrderCompletedListener)
    repeated = await deliver(order_completed(event.id, version=1), to=OrderCompletedListener)

    assert repeated.acked
    assert (await replica(event.id)).version == 1
