"""One pydantic model per event payload; camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from common.events.subjects import OrderStatus, Subjects
from common.money import Price


class Event(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    subject: ClassVar[Subjects]

    def to_wire(self) -> dict[str, Any]:
        """The JSON payload as published: camelCase, optional fields left out when unset."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class EntityCreated(Event):
    """A new entity announced by its owner under its id, at its first version."""

    id: str
    version: int


class TicketCreated(EntityCreated):
    """A ticket was put on sale."""

    subject = Subjects.TICKET_CREATED
    title: str
    price: Price
    user_id: str


class TicketUpdated(Event):
    """A ticket changed: its owner edited it, or an order reserved it (`orderId`) or let it
    go (no `orderId`)."""

    subject = Subjects.TICKET_UPDATED
    id: str
    version: int
    title: str
    price: Price
    user_id: str
    order_id: str | None = None


class OrderTicket(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    id: str
    price: Price


class OrderCreated(EntityCreated):
    """A buyer reserved a ticket until `expiresAt`."""

    subject = Subjects.ORDER_CREATED
    status: OrderStatus
    user_id: str
    expires_at: datetime
    ticket: OrderTicket


class CancelledOrderTicket(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str


class OrderCancelled(Event):
    """An order was cancelled (by its buyer, or because it expired): its ticket is free."""

    subject = Subjects.ORDER_CANCELLED
    id: str
    version: int
    ticket: CancelledOrderTicket


class OrderCompleted(Event):
    """An order was paid for: its ticket is sold (it stays held by the order for good)."""

    subject = Subjects.ORDER_COMPLETED
    id: str
    version: int
    ticket: CancelledOrderTicket


class ExpirationComplete(Event):
    """An order's reservation ran out."""

    subject = Subjects.EXPIRATION_COMPLETE
    order_id: str


class PaymentCreated(Event):
    """An order was paid (`stripeId` names the charge)."""

    subject = Subjects.PAYMENT_CREATED
    id: str
    order_id: str
    stripe_id: str


EVENT_MODELS: dict[Subjects, type[Event]] = {
    model.subject: model
    for model in (
        TicketCreated,
        TicketUpdated,
        OrderCreated,
        OrderCancelled,
        OrderCompleted,
        ExpirationComplete,
        PaymentCreated,
    )
}
