from typing import Any

from fastapi import APIRouter, Request

from common.idempotency import request_id
from common.session import RequiredUser
from tickets.models import Ticket
from tickets.schemas import TicketBody

router = APIRouter()


@router.post("", status_code=201)
async def create_ticket(body: TicketBody, user: RequiredUser, request: Request) -> dict[str, Any]:
    made_by = request_id(request)
    ticket = await Ticket.made_by_request(user.id, made_by) if made_by else None
    if ticket is None:  # not a repeat of a request that created it already
        ticket = Ticket(
            title=body.title, price_cents=body.price_cents, user_id=user.id, request_id=made_by
        )
        await ticket.insert_with_event(Ticket.created_event)
    await request.app.state.relay.flush(ticket)
    return ticket.to_json()
