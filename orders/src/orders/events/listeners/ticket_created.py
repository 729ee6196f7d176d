from typing import ClassVar

from beanie import PydanticObjectId

from common.events.replica import ReplicaInsertListener
from common.events.schemas import Event, TicketCreated
from common.events.subjects import Subjects
from common.money import to_cents
from orders.events import QUEUE_GROUP
from orders.models import Ticket


class TicketCreatedListener(ReplicaInsertListener[TicketCreated]):
    """Add the new ticket to the replica, under the id it has in the tickets service."""

    subject = Subjects.TICKET_CREATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = TicketCreated

    def replica_of(self, entity_id: PydanticObjectId, data: TicketCreated) -> Ticket:
        return Ticket(
            id=entity_id,
            title=data.title,
            price_cents=to_cents(data.price),
            version=data.version,
        )
