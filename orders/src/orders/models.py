"""Orders, and the replica of the tickets they are for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from beanie import Document, Indexed
from bson import ObjectId

from common.database import VersionedDocument, find_by_id, parse_object_id
from common.events.schemas import (
    CancelledOrderTicket,
    OrderCancelled,
    OrderCompleted,
    OrderCreated,
    OrderTicket,
)
from common.events.subjects import OrderStatus
from common.money import PricedInCents, from_cents


class Ticket(Document, PricedInCents):
    """A replica of a ticket of the tickets service, under the same `_id`.

    Built only from ticket:created / ticket:updated; `version` is the tickets service's
    version, and a change is applied only when it is the next one (`apply_next_version`).
    Whether the ticket is reserved is not stored here: that is the orders' business
    (`Order.reservation`), so the owner's events can never overwrite it.
    """

    title: str
    version: int

    class Settings:
        name = "tickets"

    @classmethod
    async def find_replica(cls, ticket_id: ObjectId) -> Ticket | None:
        """The replica with this id (`common.database.find_by_id`)."""
        return await find_by_id(cls, ticket_id)


def expiry_after(seconds: int) -> datetime:
    """Now + `seconds`, in UTC, to the millisecond (what MongoDB stores), so the JSON, the
    event and the stored order all carry the same instant."""
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class Order(VersionedDocument):
    """A buyer's order for one ticket.

    Reservation: `reservation` is unique across orders. It holds the ticket's id while the
    order holds the ticket (created, awaiting:payment, complete) and the order's own id once
    it is cancelled. Reserving is therefore one insert that either succeeds or collides with
    the order already holding the ticket: of any number of simultaneous requests exactly one
    wins, and cancelling frees the ticket in the same write that changes the status (no
    check-then-save, and no second document that a crash could leave out of step).

    Versions: every change is stored as the next `version`, conditioned on the version read,
    and published with it: creation (0), cancellation, and completion (order:completed,
    which tells tickets that its ticket is sold), so every replica can apply each change in
    turn. `complete` is final: a complete order is never cancelled (400) and expiration
    ignores it, so no event of that order follows its completion.
    """

    user_id: Annotated[str, Indexed()]
    status: OrderStatus
    expires_at: datetime
    ticket_id: str
    reservation: Annotated[str, Indexed(unique=True)]
    request_id: str | None = None
    """The `X-Request-ID` of the request that made it: the same request sent again (retried by
    the ingress on another replica) answers with this order (`common.idempotency`)."""

    class Settings:
        name = "orders"

    @classmethod
    def reserve(
        cls, ticket: Ticket, user_id: str, expires_at: datetime, request_id: str | None = None
    ) -> Order:
        """A new order holding `ticket` (stored by `insert_with_event`)."""
        return cls(
            user_id=user_id,
            status=OrderStatus.CREATED,
            expires_at=expires_at,
            ticket_id=str(ticket.id),
            reservation=str(ticket.id),
            request_id=request_id,
        )

    @classmethod
    async def made_by(cls, ticket: Ticket, user_id: str, request_id: str) -> Order | None:
        """The order holding `ticket` if the request `request_id` of `user_id` made it (one
        read through the unique `reservation` index; None when another's order holds it)."""
        document = await cls.get_pymongo_collection().find_one(
            {"reservation": str(ticket.id), "user_id": user_id, "request_id": request_id}
        )
        return None if document is None else cls.model_validate(document)

    @classmethod
    async def maker_of_holder(cls, ticket_id: ObjectId) -> tuple[str, str | None] | None:
        """Who made the order holding the ticket - its buyer and request id - or None when
        no order holds it (one read through the unique `reservation` index)."""
        holder = await cls.get_pymongo_collection().find_one(
            {"reservation": str(ticket_id)}, {"_id": 0, "user_id": 1, "request_id": 1}
        )
        return None if holder is None else (holder["user_id"], holder.get("request_id"))

    def cancel(self) -> None:
        """Cancel the order and free its ticket (in the same write)."""
        self.status = OrderStatus.CANCELLED
        self.reservation = str(self.id)

    def complete(self) -> None:
        self.status = OrderStatus.COMPLETE

    def created_event(self, ticket: Ticket) -> OrderCreated:
        return OrderCreated(
            id=str(self.id),
            version=self.version,
            status=self.status,
            user_id=self.user_id,
            expires_at=self.expires_at,
            ticket=OrderTicket(id=self.ticket_id, price=from_cents(ticket.price_cents)),
        )

    def completed_event(self) -> OrderCompleted:
        return OrderCompleted(
            id=str(self.id), version=self.version, ticket=CancelledOrderTicket(id=self.ticket_id)
        )

    def cancelled_event(self) -> OrderCancelled:
        return OrderCancelled(
            id=str(self.id), version=self.version, ticket=CancelledOrderTicket(id=self.ticket_id)
        )


async def tickets_of(orders: list[Order]) -> dict[str, Ticket]:
    """The replicas of the tickets of `orders`, by id, in one query."""
    ids = {parse_object_id(order.ticket_id) for order in orders}
    found = await Ticket.find({"_id": {"$in": [i for i in ids if i is not None]}}).to_list()
    return {str(ticket.id): ticket for ticket in found}
