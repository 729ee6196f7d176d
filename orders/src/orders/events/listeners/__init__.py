from typing import Any

from common.events.listener import Listener
from orders.events.listeners.expiration_complete import ExpirationCompleteListener
from orders.events.listeners.payment_created import PaymentCreatedListener
from orders.events.listeners.ticket_created import TicketCreatedListener
from orders.events.listeners.ticket_updated import TicketUpdatedListener

LISTENERS: list[type[Listener[Any]]] = [
    TicketCreatedListener,
    TicketUpdatedListener,
    ExpirationCompleteListener,
    PaymentCreatedListener,
]

__all__ = [
    "LISTENERS",
    "ExpirationCompleteListener",
    "PaymentCreatedListener",
    "TicketCreatedListener",
    "TicketUpdatedListener",
]
