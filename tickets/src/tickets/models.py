"""The ticket, the one entity this service owns."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import Field, field_validator
from pymongo import ASCENDING, IndexModel

from common.database import VersionedDocument
from common.events.schemas import TicketCreated, TicketUpdated
from common.money import PricedInCents, from_cents
from common.outbox import now_ms
from tickets.title_words import words_of

STAND_IN_PROCESS = "nx_27017"

UNRESERVED: dict[str, Any] = {"order_id": {"$eq": None}}
"""Tickets nobody holds. `$eq: None` (null or missing) rather than a bare `None`: the same on
MongoDB, and the embedded stand-in only gets the bare form right when it is alone."""


CHANGED_AT = "changed_at"
"""When a ticket was last written (epoch ms): the catalogue reads what changed through it."""


class TicketState(StrEnum):
    FOR_SALE = "for-sale"
    RESERVED = "reserved"
    """An order holds it until the order is paid or cancelled."""
    SOLD = "sold"
    """Its order was paid: held by that order for good, never for sale or editable again."""


class Ticket(VersionedDocument, PricedInCents):
    """A ticket for sale.

    Every change is stored as the next `version` together with its event (see
    `VersionedDocument.save_next_version`), so a replica can apply the changes in order.

    Orders lock and unlock the ticket through order:created / order:cancelled. Those events
    travel on two subjects, so they can arrive in any order (a cancellation of one order and
    the reservation by the next one are handled concurrently; a redelivered event can come
    late). The ticket therefore remembers which orders reserved it and which were cancelled:
    `order_id` is the latest reserving order whose cancellation has not arrived, and it
    converges to the right holder whatever the arrival order. A cancellation only ever
    releases the order it names. order:completed sells the ticket to its order: `sold_to`
    then holds it for good, whatever other orders' late events say.
    """

    title: str
    user_id: str
    order_id: str | None = None
    """The order holding the ticket; None when it is for sale."""
    held_by: list[str] = Field(default_factory=list)
    """Orders that reserved the ticket and whose cancellation has not arrived (more than one
    only while events arrive out of order). Internal; never in JSON."""
    released: list[str] = Field(default_factory=list)
    """Orders whose cancellation has arrived, so that a late order:created of theirs is
    ignored. Internal; never in JSON."""
    hold_expiries: dict[str, datetime] = Field(default_factory=dict)
    """When each order of `held_by` lets the ticket go unless paid (order:created's
    `expiresAt`), so the seller sees until when it is reserved. Internal."""
    sold_to: str | None = None
    """The order that bought the ticket (order:completed); None while it is not sold."""
    sold_at: datetime | None = None
    words: list[str] = Field(default_factory=list)
    """The words of the title as a search matches them, written with every write (`stored`;
    see `tickets.search`). Internal."""
    changed_at: int = Field(default_factory=now_ms)
    """When it was last written (`CHANGED_AT`; stamped by `stored`). Internal."""
    request_id: str | None = None
    """The `X-Request-ID` of the request that created it, so that the same request sent again
    (retried by the ingress on another replica) finds it (`common.idempotency`). Internal.
    Unique per user: the repeat's insert collides with the ticket the first one made."""

    class Settings:
        name = "tickets"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("request_id", ASCENDING), ("user_id", ASCENDING)],
                name="made_by_request",
                unique=True,
                partialFilterExpression={"request_id": {"$type": "string"}},
            ),
            IndexModel([(CHANGED_AT, ASCENDING)], name="changed"),
        ]

    @classmethod
    async def made_by_request(cls, user_id: str, request_id: str) -> Ticket | None:
        """The ticket `user_id` created with the request `request_id`, if any."""
        return await cls.find_one({"user_id": user_id, "request_id": request_id})

    def stored(self) -> dict[str, Any]:
        """The document as written, with the words of its current title, stamped with the
        time of the write (`tickets.catalogue` reads what changed since a time)."""
        self.words = words_of(self.title)
        self.changed_at = now_ms()
        return super().stored()

    @field_validator("sold_at")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        """A date read back without its zone is UTC (BSON dates are)."""
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @property
    def state(self) -> TicketState:
        if self.sold_to is not None:
            return TicketState.SOLD
        return TicketState.FOR_SALE if self.order_id is None else TicketState.RESERVED

    @property
    def reserved_until(self) -> datetime | None:
        """When the holding order lets the ticket go unless paid (None when not reserved,
        sold, or the order's expiry never reached this service)."""
        if self.state != TicketState.RESERVED or self.order_id is None:
            return None
        expiry = self.hold_expiries.get(self.order_id)
        return expiry.replace(tzinfo=UTC) if expiry and expiry.tzinfo is None else expiry

    def hold(self, order_id: str, expires_at: datetime | None = None) -> bool:
        """Reserve the ticket for `order_id` (until `expires_at`). False when that is already
        known (nothing to do)."""
        if order_id in self.held_by or order_id in self.released:
            return False
        self.held_by = [*self.held_by, order_id]
        if expires_at is not None:
            self.hold_expiries = {**self.hold_expiries, order_id: expires_at}
        self._settle_holder()
        return True

    def mark_sold(self, order_id: str, at: datetime | None = None) -> bool:
        """`order_id` was paid: the ticket is sold to it for good. False when that is already
        known, or when that order's cancellation arrived (orders never cancels a paid order,
        so that cannot be: nothing is changed)."""
        if self.sold_to == order_id or order_id in self.released:
            return False
        if order_id not in self.held_by:  # its order:created has not been handled yet
            self.held_by = [*self.held_by, order_id]
        self.sold_to = order_id
        self.sold_at = at or datetime.now(UTC)
        self._settle_holder()
        return True

    def release(self, order_id: str) -> bool:
        """Record that `order_id` was cancelled: the ticket is freed only if that order held it.

        False for a repeated cancellation (nothing to do).
        """
        if order_id in self.released:
            return False
        self.released = [*self.released, order_id]
        self.held_by = [held for held in self.held_by if held != order_id]
        self.hold_expiries = {o: e for o, e in self.hold_expiries.items() if o != order_id}
        self._settle_holder()
        return True

    def _settle_holder(self) -> None:
        """The order holding the ticket: the one it was sold to, else the latest reserving
        order whose cancellation has not arrived."""
        self.order_id = self.sold_to or (self.held_by[-1] if self.held_by else None)

    def created_event(self) -> TicketCreated:
        return TicketCreated(
            id=str(self.id),
            version=self.version,
            title=self.title,
            price=from_cents(self.price_cents),
            user_id=self.user_id,
        )

    def updated_event(self) -> TicketUpdated:
        return TicketUpdated(
            id=str(self.id),
            version=self.version,
            title=self.title,
            price=from_cents(self.price_cents),
            user_id=self.user_id,
            order_id=self.order_id,
        )


async def ensure_listing_index() -> None:
    """Index the tickets for sale, which the catalogue's first sync reads
    (`tickets.catalogue`): on MongoDB, `unreserved_by_id` (`order_id`, `_id`) gives them
    without reading the sold and reserved ones.

    The embedded stand-in used in local runs and tests cannot have that index (it accepts a
    compound index on `_id` but then fails every insert into the collection), so there none
    is made, and one made by an earlier version (`unreserved`) is dropped.
    """
    collection = Ticket.get_pymongo_collection()
    build = await collection.database.client.admin.command("buildInfo")
    if build.get("process") == STAND_IN_PROCESS:
        existing = [index["name"] async for index in await collection.list_indexes()]
        if "unreserved" in existing:
            await collection.drop_index("unreserved")
        return
    await collection.create_index(
        [("order_id", ASCENDING), ("_id", ASCENDING)], name="unreserved_by_id"
    )
