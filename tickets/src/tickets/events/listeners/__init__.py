from typing import Any

from common.events.listener import Listener
from tickets.events.listeners.order_cancelled import OrderCancelledListener
from tickets.events.listeners.order_created import OrderCreatedListener

LISTENERS: list[type[Listener[Any]]] = [OrderCreatedListener, OrderCancelledListener]

__all__ = ["LISTENERS", "OrderCancelledListener", "OrderCreatedListener"]
