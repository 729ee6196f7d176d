from typing import Any

from fastapi import APIRouter

from common.database import parse_object_id
from common.errors import NotAuthorizedError, NotFoundError
from common.session import RequiredUser, UserPayload
from orders.models import Order, tickets_of

router = APIRouter()


async def find_own_order(order_id: str, user: UserPayload) -> Order:
    """The caller's order with this id: 404 when there is none, 401 when it is another's."""
    object_id = parse_object_id(order_id)
    order = await Order.get(object_id) if object_id is not None else None
    if order is None:
        raise NotFoundError()
    if order.user_id != user.id:
        raise NotAuthorizedError()
    return order


@router.get("/{order_id}")
async def show_order(order_id: str, user: RequiredUser) -> dict[str, Any]:
    order = await find_own_order(order_id, user)
    tickets = await tickets_of([order])
    return order.to_json(tickets.get(order.ticket_id))
