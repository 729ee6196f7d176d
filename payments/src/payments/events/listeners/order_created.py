import logging
from typing import ClassVar

from pymongo.errors import DuplicateKeyError

from common.database import parse_object_id
from common.events.listener import Listener, Message
from common.events.schemas import Event, OrderCreated
from common.events.subjects import Subjects
from common.money import to_cents
from payments.events import QUEUE_GROUP
from payments.models import Order

logger = logging.getLogger(__name__)


class OrderCreatedListener(Listener[OrderCreated]):
    """Adds the new order to the replica (`_id` = the order's id), with its reservation's
    deadline; a duplicate is ignored."""

    subject = Subjects.ORDER_CREATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = OrderCreated

    async def on_message(self, data: OrderCreated, msg: Message) -> None:
        order_id = parse_object_id(data.id)
        if order_id is None:
            logger.error("order:created with a malformed id %r ignored", data.id)
            return
        order = Order(
            id=order_id,
            version=data.version,
            user_id=data.user_id,
            price_cents=to_cents(data.ticket.price),
            status=data.status,
            expires_at=data.expires_at,
        )
        try:
            await order.insert()
        except DuplicateKeyError:
            logger.info("order %s already replicated; duplicate order:created ignored", data.id)
