from typing import Any

from fastapi import APIRouter, Request
from pymongo.errors import DuplicateKeyError

from common.errors import BadRequestError, NotFoundError
from common.idempotency import request_id
from common.session import RequiredUser
from orders.models import Order, Ticket, expiry_after
from orders.schemas import NewOrderBody

router = APIRouter()


@router.post("", status_code=201)
async def create_order(body: NewOrderBody, user: RequiredUser, request: Request) -> dict[str, Any]:
    ticket = await Ticket.get(body.ticket_id)
    if ticket is None:
        raise NotFoundError()
    made_by = request_id(request)
    order = Order.reserve(
        ticket, user.id, expiry_after(request.app.state.expiration_window_seconds), made_by
    )
    try:
        # One atomic insert: it collides on `reservation` if another order holds the ticket.
        await order.insert_with_event(lambda order: order.created_event(ticket))
    except DuplicateKeyError:
        # Unless this very request made that order already (and is being sent again).
        holder = await Order.holding(ticket) if made_by else None
        if holder is None or (holder.user_id, holder.request_id) != (user.id, made_by):
            raise BadRequestError("Ticket is already reserved") from None
        order = holder
    await request.app.state.relay.flush(order)
    return order.to_json(ticket)
