from typing import ClassVar

from common.events.listener import Message
from common.events.schemas import Event, OrderCancelled
from common.events.subjects import Subjects
from tickets.events import TicketsListener
from tickets.service import TicketService


class OrderCancelledListener(TicketsListener[OrderCancelled]):
    """An order was cancelled: unlock the ticket if (and only if) that order holds it."""

    subject = Subjects.ORDER_CANCELLED
    event_model: ClassVar[type[Event]] = OrderCancelled

    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets

    async def on_message(self, data: OrderCancelled, msg: Message) -> None:
        await self.tickets.release(data.ticket.id, data.id)
