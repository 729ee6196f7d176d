from typing import ClassVar

from common.events.listener import Message
from common.events.schemas import Event, OrderCompleted
from common.events.subjects import Subjects
from tickets.events import TicketsListener
from tickets.service import TicketService


class OrderCompletedListener(TicketsListener[OrderCompleted]):
    """An order was paid: its ticket is sold (and publishes ticket:updated, its next version)."""

    subject = Subjects.ORDER_COMPLETED
    event_model: ClassVar[type[Event]] = OrderCompleted

    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets

    async def on_message(self, data: OrderCompleted, msg: Message) -> None:
        await self.tickets.mark_sold(data.ticket.id, data.id)
