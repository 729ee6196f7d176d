from typing import Any

from fastapi import APIRouter, Request
from pymongo.errors import DuplicateKeyError

from common.errors import BadRequestError, NotFoundError
from common.session import RequiredUser
from orders.models import Order, Ticket, expiry_after
from orders.schemas import NewOrderBody

router = APIRouter()


@router.post("", status_code=201)
async def create_order(body: NewOrderBody, user: RequiredUser, request: Request) -> dict[str, Any]:
    ticket = await Ticket.get(body.ticket_id)
    if ticket is None:
        raise NotFoundError()
    order = Order.reserve(
        ticket, user.id, expiry_after(request.app.state.expiration_window_seconds)
    )
    try:
        # One atomic insert: it collides on `reservation` if another order holds the ticket.
        await order.insert_with_event(lambda order: order.created_event(ticket))
    except DuplicateKeyError:
        raise BadRequestError("Ticket is already reserved") from None
    await request.app.state.relay.flush(order)
    return order.to_json(ticket)
