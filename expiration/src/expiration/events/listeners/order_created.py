from __future__ import annotations

import logging
from typing import ClassVar

from common.events.listener import Listener, Message
from common.events.schemas import OrderCreated
from common.events.subjects import Subjects
from common.outbox import OutboxRelay
from expiration.queue import ExpirationQueue

logger = logging.getLogger(__name__)

QUEUE_GROUP = "expiration-service"


class OrderCreatedListener(Listener[OrderCreated]):
    """Schedules the order's expiration for its `expiresAt`; a duplicate schedules nothing."""

    subject = Subjects.ORDER_CREATED
    queue_group = QUEUE_GROUP
    event_model = OrderCreated

    expiration_queue: ClassVar[ExpirationQueue | None] = None
    """The queue of a class made by `using` (the service builds its listeners from classes)."""

    def __init__(
        self, relay: OutboxRelay | None = None, queue: ExpirationQueue | None = None
    ) -> None:
        super().__init__(relay)
        chosen = queue or type(self).expiration_queue
        if chosen is None:
            raise ValueError("OrderCreatedListener needs an ExpirationQueue")
        self.queue = chosen

    @classmethod
    def using(cls, queue: ExpirationQueue) -> type[OrderCreatedListener]:
        """This listener bound to `queue`, as a class for `ServiceSpec.listeners`."""
        return type(cls.__name__, (cls,), {"expiration_queue": queue})

    async def on_message(self, data: OrderCreated, msg: Message) -> None:
        scheduled = await self.queue.schedule_expiration(data.id, data.expires_at)
        if scheduled:
            logger.info("order %s will expire at %s", data.id, data.expires_at.isoformat())
        else:
            logger.info("order %s: expiration already scheduled; nothing to do", data.id)
