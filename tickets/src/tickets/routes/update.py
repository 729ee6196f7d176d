from typing import Any

from fastapi import APIRouter, Request

from common.database import retry_on_conflict
from common.errors import BadRequestError, NotAuthorizedError
from common.session import RequiredUser
from tickets.models import Ticket
from tickets.routes.show import find_ticket
from tickets.schemas import TicketBody

router = APIRouter()


@router.put("/{ticket_id}")
async def update_ticket(
    ticket_id: str, body: TicketBody, user: RequiredUser, request: Request
) -> dict[str, Any]:
    async def attempt() -> Ticket:
        # Read, check and write on the same version: a reservation or another update that
        # lands in between makes the write fail, and the checks run again on fresh data.
        ticket = await find_ticket(ticket_id)
        if ticket.user_id != user.id:
            raise NotAuthorizedError()
        if ticket.order_id is not None:
            raise BadRequestError("Cannot edit a reserved ticket")
        ticket.title = body.title
        ticket.price_cents = body.price_cents
        return await ticket.save_next_version(Ticket.updated_event)

    ticket = await retry_on_conflict(attempt)
    await request.app.state.relay.flush(ticket)
    return ticket.to_json()
