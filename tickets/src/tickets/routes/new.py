from typing import Any

from fastapi import APIRouter, Request

from common.session import RequiredUser
from tickets.models import Ticket
from tickets.schemas import TicketBody

router = APIRouter()


@router.post("", status_code=201)
async def create_ticket(body: TicketBody, user: RequiredUser, request: Request) -> dict[str, Any]:
    ticket = Ticket(title=body.title, price_cents=body.price_cents, user_id=user.id)
    await ticket.insert_with_event(Ticket.created_event)
    await request.app.state.relay.flush(ticket)
    return ticket.to_json()
