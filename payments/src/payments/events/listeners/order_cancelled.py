import logging
from typing import ClassVar

from common.database import apply_next_version, parse_object_id
from common.events.listener import Listener, Message
from common.events.schemas import Event, OrderCancelled
from common.events.subjects import OrderStatus, Subjects
from payments.events import QUEUE_GROUP
from payments.models import Order

logger = logging.getLogger(__name__)


class OrderCancelledListener(Listener[OrderCancelled]):
    """Marks the replica cancelled when the event is its next version (older: ignored;
    newer: left unacked until its predecessor has been applied). Only the status is set,
    so this applies whatever payments did with the order meanwhile."""

    subject = Subjects.ORDER_CANCELLED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = OrderCancelled

    async def on_message(self, data: OrderCancelled, msg: Message) -> None:
        if parse_object_id(data.id) is None:
            logger.error("order:cancelled with a malformed id %r ignored", data.id)
            return
        applied = await apply_next_version(
            Order, data.id, data.version, {"status": OrderStatus.CANCELLED.value}
        )
        if not applied:
            logger.info("order:cancelled %s v%d already applied", data.id, data.version)
