"""The one way listeners change a ticket: read, change, store the next version + event."""

from __future__ import annotations

import logging
from collections.abc import Callable

from common.database import parse_object_id, retry_on_conflict
from common.outbox import OutboxRelay
from tickets.models import Ticket

logger = logging.getLogger(__name__)


class TicketNotFound(LookupError):
    """The event names a ticket this service does not have (retried, then set aside)."""


async def change_ticket(
    ticket_id: str, change: Callable[[Ticket], bool], relay: OutboxRelay | None
) -> Ticket | None:
    """Apply `change` to the ticket and store it as the next version with ticket:updated.

    `change` returns False when there is nothing to do (a repeated event): nothing is stored
    or published. A concurrent change (e.g. an owner's update) makes the write fail and the
    change runs again on the fresh ticket. Returns the stored ticket, or None.
    """
    object_id = parse_object_id(ticket_id)
    if object_id is None:
        logger.error("event names a malformed ticket id %r; ignored", ticket_id)
        return None

    async def attempt() -> Ticket | None:
        ticket = await Ticket.get(object_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        if not change(ticket):
            return None
        return await ticket.save_next_version(Ticket.updated_event)

    ticket = await retry_on_conflict(attempt)
    if ticket is not None and relay is not None:
        await relay.flush(ticket)
    return ticket
