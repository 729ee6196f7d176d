"""The one way listeners change an order: read, change, store the next version + events."""

from __future__ import annotations

from collections.abc import Callable

from common.database import parse_object_id, retry_on_conflict
from common.events.schemas import Event
from common.outbox import OutboxRelay
from orders.models import Order


class OrderNotFound(LookupError):
    """The event names an order this service does not have (retried, then set aside)."""


async def change_order(
    order_id: str,
    change: Callable[[Order], bool],
    relay: OutboxRelay | None,
    *events: Callable[[Order], Event],
) -> Order | None:
    """Apply `change` to the order and store it as the next version with `events`.

    `change` returns False when there is nothing to do: nothing is stored or published.
    A concurrent change (e.g. the buyer cancelling) makes the write fail and the change
    runs again on the fresh order. Returns the stored order, or None.
    """
    object_id = parse_object_id(order_id)

    async def attempt() -> Order | None:
        order = await Order.get(object_id) if object_id is not None else None
        if order is None:
            raise OrderNotFound(order_id)
        if not change(order):
            return None
        return await order.save_next_version(*events)

    order = await retry_on_conflict(attempt)
    if order is not None and relay is not None:
        await relay.flush(order)
    return order
