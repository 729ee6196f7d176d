"""Events as their publisher sends them, for tests that hand them to a listener or publish
them: what a test does not name is made up (new ids, a reservation with 15 minutes left)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bson import ObjectId

from common.events.schemas import (
    CancelledOrderTicket,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderTicket,
)
from common.events.subjects import OrderStatus


def new_id() -> str:
    """A fresh id, as our services make them (a MongoDB ObjectId in hex)."""
    return str(ObjectId())


def order_created(
    *,
    order_id: str | None = None,
    ticket_id: str | None = None,
    price: float = 20,
    user_id: str | None = None,
    expires_at: datetime | None = None,
) -> OrderCreated:
    """order:created (version 0) of an order reserving the ticket `ticket_id` at `price`."""
    return OrderCreated(
        id=order_id or new_id(),
        version=0,
        status=OrderStatus.CREATED,
        user_id=user_id or new_id(),
        expires_at=expires_at or datetime.now(UTC) + timedelta(minutes=15),
        ticket=OrderTicket(id=ticket_id or new_id(), price=price),
    )


def order_cancelled(
    order_id: str, *, ticket_id: str | None = None, version: int = 1
) -> OrderCancelled:
    """order:cancelled of the order `order_id` (version 1: cancelled right after creation)."""
    return OrderCancelled(
        id=order_id, version=version, ticket=CancelledOrderTicket(id=ticket_id or new_id())
    )


def order_completed(
    order_id: str, *, ticket_id: str | None = None, version: int = 1
) -> OrderCompleted:
    """order:completed of the order `order_id` (version 1: paid right after creation)."""
    return OrderCompleted(
        id=order_id, version=version, ticket=CancelledOrderTicket(id=ticket_id or new_id())
    )
