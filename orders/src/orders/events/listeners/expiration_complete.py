from typing import ClassVar

from common.events.listener import Listener, Message
from common.events.schemas import Event, ExpirationComplete
from common.events.subjects import Subjects
from orders.events import QUEUE_GROUP
from orders.service import OrderService


class ExpirationCompleteListener(Listener[ExpirationComplete]):
    """The order's time is up: cancel it (freeing the ticket) and publish order:cancelled."""

    subject = Subjects.EXPIRATION_COMPLETE
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = ExpirationComplete

    def __init__(self, orders: OrderService) -> None:
        self.orders = orders

    async def on_message(self, data: ExpirationComplete, msg: Message) -> None:
        await self.orders.expire(data.order_id)
