from typing import ClassVar

from common.events.listener import Listener, Message
from common.events.schemas import Event, ExpirationComplete
from common.events.subjects import OrderStatus, Subjects
from orders.events import QUEUE_GROUP
from orders.events.listeners.orders import change_order
from orders.models import Order


def cancel_unless_settled(order: Order) -> bool:
    """An order that is complete or already cancelled stays as it is (nothing published)."""
    if order.status in (OrderStatus.COMPLETE, OrderStatus.CANCELLED):
        return False
    order.cancel()
    return True


class ExpirationCompleteListener(Listener[ExpirationComplete]):
    """The order's time is up: cancel it (freeing the ticket) and publish order:cancelled."""

    subject = Subjects.EXPIRATION_COMPLETE
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = ExpirationComplete

    async def on_message(self, data: ExpirationComplete, msg: Message) -> None:
        await change_order(data.order_id, cancel_unless_settled, self.relay, Order.cancelled_event)
