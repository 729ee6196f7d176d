"""order:created locks a ticket, order:cancelled unlocks it only for the order holding it."""

from datetime import UTC, datetime

import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI

from common.database import VersionConflict
from common.events.schemas import (
    CancelledOrderTicket,
    OrderCancelled,
    OrderCreated,
    OrderTicket,
)
from common.events.subjects import OrderStatus
from testsupport.doubles import FakeMsg, RecordingPublisher
from testsupport.plugin import listener_of, outbox_of
from tickets.events.listeners import OrderCancelledListener, OrderCreatedListener
from tickets.models import Ticket

OWNER = "0123456789abcdef01234567"


async def a_ticket(publisher: RecordingPublisher) -> Ticket:
    ticket = await Ticket(title="concert", price_cents=2000, user_id=OWNER).insert()
    publisher.published.clear()
    return ticket


def created(ticket: Ticket, order_id: str) -> OrderCreated:
    return OrderCreated(
        id=order_id,
        version=0,
        status=OrderStatus.CREATED,
        user_id="buyer",
        expires_at=datetime.now(UTC),
        ticket=OrderTicket(id=str(ticket.id), price=20),
    )


def cancelled(ticket: Ticket, order_id: str, version: int = 1) -> OrderCancelled:
    return OrderCancelled(
        id=order_id, version=version, ticket=CancelledOrderTicket(id=str(ticket.id))
    )


async def deliver(
    listener: OrderCreatedListener | OrderCancelledListener, event: object
) -> FakeMsg:
    msg = FakeMsg.of(event)
    await listener.handle(msg)
    return msg


async def stored(ticket: Ticket) -> Ticket:
    fresh = await Ticket.get(ticket.id)
    assert fresh is not None
    return fresh


ORDER_A = str(PydanticObjectId())
ORDER_B = str(PydanticObjectId())


async def test_order_created_locks_the_ticket_and_acks(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    msg = await deliver(listener_of(app, OrderCreatedListener), created(ticket, ORDER_A))
    assert msg.acked
    assert not msg.naked
    locked = await stored(ticket)
    assert locked.order_id == ORDER_A
    assert locked.version == 1


async def test_order_created_publishes_ticket_updated(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    await deliver(listener_of(app, OrderCreatedListener), created(ticket, ORDER_A))
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
    assert (await stored(ticket)).outbox == []


async def test_repeated_order_created_is_harmless(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    listener = listener_of(app, OrderCreatedListener)
    await deliver(listener, created(ticket, ORDER_A))
    msg = await deliver(listener, created(ticket, ORDER_A))
    assert msg.acked
    assert (await stored(ticket)).version == 1
    assert len(publisher.of("ticket:updated")) == 1


async def test_order_created_for_an_unknown_ticket_is_retried(app: FastAPI) -> None:
    ghost = Ticket(id=PydanticObjectId(), title="x", price_cents=100, user_id=OWNER)
    msg = await deliver(listener_of(app, OrderCreatedListener), created(ghost, ORDER_A))
    assert msg.naked
    assert not msg.acked


async def test_invalid_payload_is_terminated(app: FastAPI) -> None:
    msg = FakeMsg.of({"id": ORDER_A, "ticket": {}})
    await listener_of(app, OrderCreatedListener).handle(msg)
    assert msg.termed
    assert not msg.acked


async def test_order_created_is_stored_even_when_nats_is_down(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    publisher.fail = True
    msg = await deliver(listener_of(app, OrderCreatedListener), created(ticket, ORDER_A))
    assert msg.acked  # the lock and its event are stored together; the relay sends it later
    locked = await stored(ticket)
    assert locked.order_id == ORDER_A
    assert [event.subject for event in locked.outbox] == ["ticket:updated"]
    publisher.fail = False
    assert await outbox_of(app).drain_once(grace=0) == 1
    assert publisher.of("ticket:updated")[0]["orderId"] == ORDER_A


async def test_order_cancelled_unlocks_the_ticket_held_by_that_order(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    await deliver(listener_of(app, OrderCreatedListener), created(ticket, ORDER_A))
    msg = await deliver(listener_of(app, OrderCancelledListener), cancelled(ticket, ORDER_A))
    assert msg.acked
    unlocked = await stored(ticket)
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
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    """A was cancelled and B reserved the ticket; A's cancellation arrives after B's lock."""
    ticket = await a_ticket(publisher)
    locks, unlocks = (
        listener_of(app, OrderCreatedListener),
        listener_of(app, OrderCancelledListener),
    )
    await deliver(locks, created(ticket, ORDER_A))
    await deliver(locks, created(ticket, ORDER_B))
    msg = await deliver(unlocks, cancelled(ticket, ORDER_A))
    assert msg.acked
    assert (await stored(ticket)).order_id == ORDER_B
    assert all(event["orderId"] == ORDER_B for event in publisher.of("ticket:updated")[1:])


async def test_cancellation_of_an_order_that_never_held_the_ticket_leaves_it_locked(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    await deliver(listener_of(app, OrderCreatedListener), created(ticket, ORDER_B))
    msg = await deliver(listener_of(app, OrderCancelledListener), cancelled(ticket, ORDER_A))
    assert msg.acked
    assert (await stored(ticket)).order_id == ORDER_B
    assert "orderId" in publisher.of("ticket:updated")[-1]


async def test_late_order_created_of_a_cancelled_order_does_not_lock(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    """order:created redelivered after that order's cancellation was handled."""
    ticket = await a_ticket(publisher)
    locks, unlocks = (
        listener_of(app, OrderCreatedListener),
        listener_of(app, OrderCancelledListener),
    )
    await deliver(unlocks, cancelled(ticket, ORDER_A))
    msg = await deliver(locks, created(ticket, ORDER_A))
    assert msg.acked
    assert (await stored(ticket)).order_id is None


async def test_repeated_cancellation_is_harmless(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    ticket = await a_ticket(publisher)
    locks, unlocks = (
        listener_of(app, OrderCreatedListener),
        listener_of(app, OrderCancelledListener),
    )
    await deliver(locks, created(ticket, ORDER_A))
    await deliver(unlocks, cancelled(ticket, ORDER_A))
    await deliver(locks, created(ticket, ORDER_B))
    msg = await deliver(unlocks, cancelled(ticket, ORDER_A))
    assert msg.acked
    final = await stored(ticket)
    assert final.order_id == ORDER_B
    assert final.version == 3
    assert len(publisher.of("ticket:updated")) == 3


async def test_lock_wins_over_a_concurrent_owner_update(
    app: FastAPI, publisher: RecordingPublisher
) -> None:
    """The owner edits the ticket from a copy read before the lock: the edit must not
    silently erase the lock (the version check makes it fail)."""
    ticket = await a_ticket(publisher)
    stale_copy = await stored(ticket)
    await deliver(listener_of(app, OrderCreatedListener), created(ticket, ORDER_A))
    stale_copy.title = "edited"
    with pytest.raises(VersionConflict):
        await stale_copy.save_next_version(Ticket.updated_event)
    final = await stored(ticket)
    assert (final.order_id, final.title) == (ORDER_A, "concert")
