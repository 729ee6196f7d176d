import logging
from typing import ClassVar

from common.database import apply_next_version, parse_object_id
from common.events.listener import Listener, Message
from common.events.schemas import Event, TicketUpdated
from common.events.subjects import Subjects
from common.money import to_cents
from orders.events import QUEUE_GROUP
from orders.models import Ticket

logger = logging.getLogger(__name__)


class TicketUpdatedListener(Listener[TicketUpdated]):
    """Apply the owner's change if it is the next version: an older or repeated one is acked
    and dropped, a future one raises `EventOutOfOrder` (left unacked, comes back later).

    Only title and price are replicated; the event's `orderId` is the tickets service's view
    of the lock and does not touch the orders' reservations."""

    subject = Subjects.TICKET_UPDATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = TicketUpdated

    async def on_message(self, data: TicketUpdated, msg: Message) -> None:
        if parse_object_id(data.id) is None:
            logger.error("ticket:updated with a malformed id %r ignored", data.id)
            return
        await apply_next_version(
            Ticket,
            data.id,
            data.version,
            {"title": data.title, "price_cents": to_cents(data.price)},
        )
