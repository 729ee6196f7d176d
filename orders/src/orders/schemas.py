"""The API's shapes: request bodies, with the contract's messages (section 3), and the order
as responses show it (section 5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from beanie import PydanticObjectId
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from common.database import object_id_field
from common.events.subjects import OrderStatus
from common.money import PriceFromCents
from common.responses import ResponseModel
from orders.models import Order, Ticket


class NewOrderBody(BaseModel):
    """`{ticketId}`: the ticket to reserve."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    ticket_id: Annotated[PydanticObjectId, object_id_field("TicketId must be a valid id")] = Field(
        alias="ticketId"
    )

    @model_validator(mode="before")
    @classmethod
    def missing_is_invalid(cls, data: Any) -> Any:
        """A missing ticketId gets the same message as a bad one."""
        if isinstance(data, dict):
            return {"ticketId": None, **data}
        return data


def iso_utc(moment: datetime) -> str:
    """`2024-05-01T12:00:00.000Z`: ISO-8601 in UTC, as JavaScript's `Date#toJSON`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


IsoUtc = Annotated[
    datetime,
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO-8601 in UTC, to the millisecond: `2024-05-01T12:00:00.000Z`",
        }
    ),
]


class OrderTicketResponse(ResponseModel):
    """The ticket of an order: `{id, title, price, version}`."""

    id: str
    title: str
    price: PriceFromCents
    version: int

    @classmethod
    def of(cls, ticket: Ticket) -> OrderTicketResponse:
        return cls(
            id=str(ticket.id), title=ticket.title, price=ticket.price_cents, version=ticket.version
        )


class TicketReference(ResponseModel):
    """The ticket of an order, when this service holds no copy of it: `{id}`."""

    id: str


class OrderResponse(ResponseModel):
    """An order: `{id, userId, status, expiresAt, version, ticket}`."""

    id: str
    user_id: str
    status: OrderStatus
    expires_at: IsoUtc
    """When the reservation runs out (an unpaid order is cancelled then)."""
    version: int
    ticket: OrderTicketResponse | TicketReference

    @classmethod
    def of(cls, order: Order, ticket: Ticket | None) -> OrderResponse:
        return cls(
            id=str(order.id),
            user_id=order.user_id,
            status=order.status,
            expires_at=order.expires_at,
            version=order.version,
            ticket=(
                OrderTicketResponse.of(ticket)
                if ticket is not None
                else TicketReference(id=order.ticket_id)
            ),
        )
