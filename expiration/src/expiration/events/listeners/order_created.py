from __future__ import annotations

import logging

from common.events.listener import Listener, Message
from common.events.schemas import OrderCreated
from common.events.subjects import Subjects
from expiration.queue import ExpirationQueue

logger = logging.getLogger(__name__)

QUEUE_GROUP = "expiration-service"


class OrderCreatedListener(Listener[OrderCreated]):
    """Schedules the order's expiration for its `expiresAt`; a duplicate schedules nothing."""

    subject = Subjects.ORDER_CREATED
    queue_group = QUEUE_GROUP
    event_model = OrderCreated
    handles_batch_together = True
    """Each order has its own job, and scheduling one twice schedules nothing (its id)."""

    def __init__(self, queue: ExpirationQueue) -> None:
        self.queue = queue

    async def on_message(self, data: OrderCreated, msg: Message) -> None:
        scheduled = await self.queue.schedule_expiration(data.id, data.expires_at)
        if scheduled:
            # Per order, so not at INFO (it cost a tenth of the service's CPU under load); the
            # metrics count the jobs scheduled.
            logger.debug("order %s will expire at %s", data.id, data.expires_at.isoformat())
        else:
            logger.info("order %s: expiration already scheduled; nothing to do", data.id)
