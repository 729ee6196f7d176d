"""order:completed: keep the replica's version in step with the order's."""

import logging
from typing import ClassVar

from common.database import apply_next_version, parse_object_id
from common.events.listener import Listener, Message
from common.events.schemas import Event, OrderCompleted
from common.events.subjects import OrderStatus, Subjects
from payments.events import QUEUE_GROUP
from payments.models import Order

logger = logging.getLogger(__name__)


class OrderCompletedListener(Listener[OrderCompleted]):
    """Marks the replica complete when the event is its next version (older: ignored; newer:
    left unacked until its predecessor has been applied). Payments completed the order itself
    (its payment made orders complete it), so this only records the status and the version,
    which keeps every later version of the order applicable here."""

    subject = Subjects.ORDER_COMPLETED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = OrderCompleted

    async def on_message(self, data: OrderCompleted, msg: Message) -> None:
        if parse_object_id(data.id) is None:
            logger.error("order:completed with a malformed id %r ignored", data.id)
            return
        applied = await apply_next_version(
            Order, data.id, data.version, {"status": OrderStatus.COMPLETE.value}
        )
        if not applied:
            logger.info("order:completed %s v%d already applied", data.id, data.version)
