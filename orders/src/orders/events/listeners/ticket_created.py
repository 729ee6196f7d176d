import contextlib
import logging
from typing import ClassVar

from pymongo.errors import DuplicateKeyError

from common.database import parse_object_id
from common.events.listener import Listener, Message
from common.events.schemas import Event, TicketCreated
from common.events.subjects import Subjects
from common.money import to_cents
from orders.events import QUEUE_GROUP
from orders.models import Ticket

logger = logging.getLogger(__name__)


class TicketCreatedListener(Listener[TicketCreated]):
    """Add the new ticket to the replica, under the id it has in the tickets service."""

    subject = Subjects.TICKET_CREATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = TicketCreated

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        ticket_id = parse_object_id(data.id)
        if ticket_id is None:
            logger.error("ticket:created with a malformed id %r ignored", data.id)
            return
        replica = Ticket(
            id=ticket_id,
            title=data.title,
            price_cents=to_cents(data.price),
            version=data.version,
        )
        with contextlib.suppress(DuplicateKeyError):  # a repeated delivery: already there
            await replica.insert()
