from collections.abc import Sequence
from typing import Any

from common.events.listener import Listener
from orders.dependencies import OrdersDependencies
from orders.events.listeners.expiration_complete import ExpirationCompleteListener
from orders.events.listeners.payment_created import PaymentCreatedListener
from orders.events.listeners.ticket_created import TicketCreatedListener
from orders.events.listeners.ticket_updated import TicketUpdatedListener


def listeners(dependencies: OrdersDependencies) -> Sequence[Listener[Any]]:
    return [
        TicketCreatedListener(),
        TicketUpdatedListener(),
        ExpirationCompleteListener(dependencies.orders),
        PaymentCreatedListener(dependencies.orders),
    ]


__all__ = [
    "ExpirationCompleteListener",
    "PaymentCreatedListener",
    "TicketCreatedListener",
    "TicketUpdatedListener",
    "listeners",
]
