from typing import ClassVar

from common.events.listener import Message
from common.events.schemas import Event, OrderCreated
from common.events.subjects import Subjects
from tickets.events import TicketsListener
from tickets.service import TicketService


class OrderCreatedListener(TicketsListener[OrderCreated]):
    """An order reserved the ticket: lock it (set `orderId`, remembering until when) and
    publish ticket:updated."""

    subject = Subjects.ORDER_CREATED
    event_model: ClassVar[type[Event]] = OrderCreated

    def __init__(self, tickets: TicketService) -> None:
        self.tickets = tickets

    async def on_message(self, data: OrderCreated, msg: Message) -> None:
        await self.tickets.hold(data.ticket.id, data.id, data.expires_at)
