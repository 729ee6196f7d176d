"""What the tickets service does with tickets: list, show, sell and edit them for people, and
lock and unlock them for orders. Every change is stored as the ticket's next version with its
event, which the write publishes (see `common.outbox`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pymongo.errors import DuplicateKeyError

from common.database import find_by_id, parse_object_id, retry_on_conflict
from common.errors import BadRequestError, NotAuthorizedError, NotFoundError
from tickets.catalogue import Catalogue
from tickets.listing import stored_tickets
from tickets.models import Ticket, TicketState
from tickets.schemas import Page, TicketBody

logger = logging.getLogger(__name__)

RESERVED = "Cannot edit a reserved ticket"
SOLD = "Cannot edit a sold ticket"

T = TypeVar("T", Ticket, Ticket | None)


class TicketNotFound(LookupError):
    """An event names a ticket this service does not have (retried, then set aside)."""


class TicketService:
    def __init__(self) -> None:
        self.for_sale = Catalogue(stored_tickets)
        """The tickets for sale, kept in memory (see `Catalogue`); every change of a ticket
        here is shown by the next answer."""

    async def listing(self, page: Page) -> bytes:
        """Tickets for sale, oldest first, as JSON: every one without `page.limit` (as the
        original answers), else one page starting after `page.after`."""
        if page == Page():
            return await self.for_sale.everything()
        return await self.for_sale.page(page.after, page.limit)

    async def _storing(self, write: Awaitable[T]) -> T:
        """Run `write`, a change of a ticket; the next answer from the catalogue shows it,
        whatever its outcome (a write that timed out may still have been stored)."""
        try:
            return await write
        finally:
            self.for_sale.changed()

    async def of_seller(self, user_id: str, page: Page) -> list[Ticket]:
        """The seller's tickets, newest first, whatever became of them: every one without
        `page.limit`, else one page of older ones than `page.after`."""
        query: dict[str, Any] = {"user_id": user_id}
        if page.after is not None:
            query["_id"] = {"$lt": page.after}
        cursor = Ticket.find(query).sort("-_id")
        if page.limit is not None:
            cursor = cursor.limit(page.limit)
        return await cursor.to_list()

    async def find(self, ticket_id: str) -> Ticket:
        """The ticket with this id; 404 when there is none (or the id is malformed)."""
        object_id = parse_object_id(ticket_id)
        ticket = await find_by_id(Ticket, object_id) if object_id is not None else None
        if ticket is None:
            raise NotFoundError()
        return ticket

    async def sell(self, body: TicketBody, user_id: str, request_id: str | None = None) -> Ticket:
        """A new ticket of `user_id`'s; the same request sent again (`common.idempotency`)
        answers with the ticket it made instead of making another: its insert collides with
        that ticket (one write on the normal path, no look-up before it)."""
        ticket = Ticket(
            title=body.title,
            price_cents=body.price_cents,
            user_id=user_id,
            request_id=request_id,
        )
        try:
            return await self._storing(ticket.insert_with_event(Ticket.created_event))
        except DuplicateKeyError:
            made = await Ticket.made_by_request(user_id, request_id) if request_id else None
            if made is None:
                raise
            return made

    async def edit(self, ticket_id: str, body: TicketBody, user_id: str) -> Ticket:
        """The owner's change of a free ticket; 401 for anyone else, 400 while reserved."""

        async def attempt() -> Ticket:
            # Read, check and write on the same version: a reservation or another update that
            # lands in between makes the write fail, and the checks run again on fresh data.
            ticket = await self.find(ticket_id)
            if ticket.user_id != user_id:
                raise NotAuthorizedError()
            if ticket.state == TicketState.SOLD:
                raise BadRequestError(SOLD)
            if ticket.order_id is not None:
                raise BadRequestError(RESERVED)
            ticket.title, ticket.price_cents = body.title, body.price_cents
            return await ticket.save_next_version(Ticket.updated_event)

        return await self._storing(retry_on_conflict(attempt))

    async def hold(
        self, ticket_id: str, order_id: str, expires_at: datetime | None = None
    ) -> Ticket | None:
        """An order reserved the ticket until `expires_at`: lock it for that order."""
        return await self._change(ticket_id, lambda ticket: ticket.hold(order_id, expires_at))

    async def mark_sold(self, ticket_id: str, order_id: str) -> Ticket | None:
        """An order was paid: its ticket is sold (held by that order for good)."""
        return await self._change(ticket_id, lambda ticket: ticket.mark_sold(order_id))

    async def release(self, ticket_id: str, order_id: str) -> Ticket | None:
        """An order was cancelled: unlock the ticket if (and only if) that order holds it."""
        return await self._change(ticket_id, lambda ticket: ticket.release(order_id))

    async def _change(self, ticket_id: str, change: Callable[[Ticket], bool]) -> Ticket | None:
        """Apply `change` and store the ticket as the next version with ticket:updated.

        `change` returns False when there is nothing to do (a repeated event): nothing is
        stored or published. A concurrent change (e.g. an owner's update) makes the write
        fail and the change runs again on the fresh ticket. Returns the stored ticket."""
        object_id = parse_object_id(ticket_id)
        if object_id is None:
            logger.error("event names a malformed ticket id %r; ignored", ticket_id)
            return None

        async def attempt() -> Ticket | None:
            ticket = await find_by_id(Ticket, object_id)
            if ticket is None:
                raise TicketNotFound(ticket_id)
            if not change(ticket):
                return None
            return await ticket.save_next_version(Ticket.updated_event)

        return await self._storing(retry_on_conflict(attempt))
