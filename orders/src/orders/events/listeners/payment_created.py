import logging
from typing import ClassVar

from common.events.listener import Listener, Message
from common.events.schemas import Event, PaymentCreated
from common.events.subjects import OrderStatus, Subjects
from orders.events import QUEUE_GROUP
from orders.events.listeners.orders import change_order
from orders.models import Order

logger = logging.getLogger(__name__)


class PaymentCreatedListener(Listener[PaymentCreated]):
    """The order was paid for: mark it complete (see `Order` for why nothing is published)."""

    subject = Subjects.PAYMENT_CREATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = PaymentCreated

    async def on_message(self, data: PaymentCreated, msg: Message) -> None:
        def complete(order: Order) -> bool:
            if order.status == OrderStatus.COMPLETE:
                return False  # a repeated delivery
            if order.status == OrderStatus.CANCELLED:
                # Paid in the instant it was cancelled: its ticket is already free again, so
                # the order stays cancelled; payments refunds the charge on order:cancelled.
                logger.warning(
                    "payment %s (stripe %s) arrived for cancelled order %s; payments refunds it",
                    data.id,
                    data.stripe_id,
                    order.id,
                )
                return False
            order.complete()
            return True

        await change_order(data.order_id, complete, self.relay)
