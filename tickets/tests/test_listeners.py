"""order:created locks a ticket, order:cancelled unlocks it only for the order holding it."""

import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI

from common.database import VersionConflict
from common.events.schemas import OrderCancelled, OrderCreated
from testsupport.doubles import RecordingPublisher
from testsupport.events import order_cancelled, order_created
from testsupport.plugin import Deliver, outbox_of, stored
from tickets.events.listeners import OrderCancelledListener, OrderCreatedListener
from tickets.models import Ticket

OWNER = "0123456789abcdef01234567"


@pytest.fixture
async def ticket(app: FastAPI, publisher: RecordingPublisher) -> Ticket:
    """The owner's ticket for sale (concert, $20), its ticket:created already sent."""
    listed = await Ticket(title="concert", price_cents=2000, user_id=OWNER).insert()
    publisher.published.clear()
    return listed


def created(ticket: Ticket, order_id: str) -> OrderCreated:
    return order_created(order_id=order_id, ticket_id=str(ticket.id))


def cancelled(ticket: Ticket, order_id: str) -> OrderCancelled:
    return order_cancelled(order_id, ticket_id=str(ticket.id))


ORDER_A = str(PydanticObjectId())
ORDER_B = str(PydanticObjectId())


async def test_order_created_locks_the_ticket_and_acks(ticket: Ticket, deliver: Deliver) -> None:
    msg = await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    assert msg.acked
    assert not msg.naked
    locked = await stored(Ticket, ticket.id)
    assert locked.order_id == ORDER_A
    assert locked.version == 1


async def test_order_created_publishes_ticket_updated(
    app: FastAPI, ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    assert publisher.of("ticket:updated") == [
        {
            "id": str(ticket.id),
            "version": 1,
            "title": "concert",
            "price": 20,
            "userId": OWNER,
            "orderId": ORDER_A,
        }
    ]
    await outbox_of(app).clear_published()  # published events are cleared in batches
    assert (await stored(Ticket, ticket.id)).outbox == []


async def test_repeated_order_created_is_harmless(
    ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    msg = await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    assert msg.acked
    assert (await stored(Ticket, ticket.id)).version == 1
    assert len(publisher.of("ticket:updated")) == 1


async def test_order_created_for_an_unknown_ticket_is_retried(deliver: Deliver) -> None:
    ghost = Ticket(id=PydanticObjectId(), title="x", price_cents=100, user_id=OWNER)
    msg = await deliver(created(ghost, ORDER_A), to=OrderCreatedListener)
    assert msg.naked
    assert not msg.acked


async def test_invalid_payload_is_terminated(deliver: Deliver) -> None:
    msg = await deliver({"id": ORDER_A, "ticket": {}}, to=OrderCreatedListener)
    assert msg.termed
    assert not msg.acked


async def test_order_created_is_stored_even_when_nats_is_down(
    app: FastAPI, ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    publisher.fail = True
    msg = await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    assert msg.acked  # the lock and its event are stored together; the relay sends it later
    locked = await stored(Ticket, ticket.id)
    assert locked.order_id == ORDER_A
    assert [event.subject for event in locked.outbox] == ["ticket:updated"]
    publisher.fail = False
    assert await outbox_of(app).drain_once(grace=0) == 1
    assert publisher.of("ticket:updated")[0]["orderId"] == ORDER_A


async def test_order_cancelled_unlocks_the_ticket_held_by_that_order(
    ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    msg = await deliver(cancelled(ticket, ORDER_A), to=OrderCancelledListener)
    assert msg.acked
    unlocked = await stored(Ticket, ticket.id)
    assert unlocked.order_id is None
    assert unlocked.version == 2
    assert publisher.of("ticket:updated")[-1] == {
        "id": str(ticket.id),
        "version": 2,
        "title": "concert",
        "price": 20,
        "userId": OWNER,
    }


async def test_stale_cancellation_does_not_unlock_another_orders_ticket(
    ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    """A was cancelled and B reserved the ticket; A's cancellation arrives after B's lock."""
    await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    await deliver(created(ticket, ORDER_B), to=OrderCreatedListener)
    msg = await deliver(cancelled(ticket, ORDER_A), to=OrderCancelledListener)
    assert msg.acked
    assert (await stored(Ticket, ticket.id)).order_id == ORDER_B
    assert all(event["orderId"] == ORDER_B for event in publisher.of("ticket:updated")[1:])


async def test_cancellation_of_an_order_that_never_held_the_ticket_leaves_it_locked(
    ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(created(ticket, ORDER_B), to=OrderCreatedListener)
    msg = await deliver(cancelled(ticket, ORDER_A), to=OrderCancelledListener)
    assert msg.acked
    assert (await stored(Ticket, ticket.id)).order_id == ORDER_B
    assert "orderId" in publisher.of("ticket:updated")[-1]


async def test_late_order_created_of_a_cancelled_order_does_not_lock(
    ticket: Ticket, deliver: Deliver
) -> None:
    """order:created redelivered after that order's cancellation was handled."""
    await deliver(cancelled(ticket, ORDER_A), to=OrderCancelledListener)
    msg = await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    assert msg.acked
    assert (await stored(Ticket, ticket.id)).order_id is None


async def test_repeated_cancellation_is_harmless(
    ticket: Ticket, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    await deliver(cancelled(ticket, ORDER_A), to=OrderCancelledListener)
    await deliver(created(ticket, ORDER_B), to=OrderCreatedListener)
    msg = await deliver(cancelled(ticket, ORDER_A), to=OrderCancelledListener)
    assert msg.acked
    final = await stored(Ticket, ticket.id)
    assert final.order_id == ORDER_B
    assert final.version == 3
    assert len(publisher.of("ticket:updated")) == 3


async def test_lock_wins_over_a_concurrent_owner_update(ticket: Ticket, deliver: Deliver) -> None:
    """The owner edits the ticket from a copy read before the lock: the edit must not
    silently erase the lock (the version check makes it fail)."""
    stale_copy = await stored(Ticket, ticket.id)
    await deliver(created(ticket, ORDER_A), to=OrderCreatedListener)
    stale_copy.title = "edited"
    with pytest.raises(VersionConflict):
        await stale_copy.save_next_version(Ticket.updated_event)
    final = await stored(Ticket, ticket.id)
    assert (final.order_id, final.title) == (ORDER_A, "concert")
