from collections.abc import Sequence
from typing import Any

from common.events.listener import Listener
from tickets.dependencies import TicketsDependencies
from tickets.events.listeners.order_cancelled import OrderCancelledListener
from tickets.events.listeners.order_completed import OrderCompletedListener
from tickets.events.listeners.order_created import OrderCreatedListener


def listeners(dependencies: TicketsDependencies) -> Sequence[Listener[Any]]:
    return [
        OrderCreatedListener(dependencies.tickets),
        OrderCancelledListener(dependencies.tickets),
        OrderCompletedListener(dependencies.tickets),
    ]


__all__ = [
    "OrderCancelledListener",
    "OrderCompletedListener",
    "OrderCreatedListener",
    "listeners",
]
