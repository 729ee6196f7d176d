from typing import ClassVar

from beanie import PydanticObjectId

from common.events.replica import ReplicaInsertListener
from common.events.schemas import Event, OrderCreated
from common.events.subjects import Subjects
from common.money import to_cents
from payments.events import QUEUE_GROUP
from payments.models import Order


class OrderCreatedListener(ReplicaInsertListener[OrderCreated]):
    """Adds the new order to the replica (`_id` = the order's id), with its reservation's
    deadline; a duplicate is ignored."""

    subject = Subjects.ORDER_CREATED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = OrderCreated

    def replica_of(self, entity_id: PydanticObjectId, data: OrderCreated) -> Order:
        return Order(
            id=entity_id,
            version=data.version,
            user_id=data.user_id,
            price_cents=to_cents(data.ticket.price),
            status=data.status,
            expires_at=data.expires_at,
        )
