from typing import ClassVar

from common.events.listener import Listener, Message
from common.events.schemas import Event, PaymentCreated
from common.events.subjects import Subjects
from orders.events import QUEUE_GROUP
from orders.service import OrderService


class PaymentCreatedListener(Listener[PaymentCreated]):
    """The order was paid for: mark it complete (see `Order` for why nothing is published)."""

    subject = Subjects.PAYMENT_CREATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = PaymentCreated

    def __init__(self, orders: OrderService) -> None:
        self.orders = orders

    async def on_message(self, data: PaymentCreated, msg: Message) -> None:
        await self.orders.complete(data.order_id, data.id, data.stripe_id)
