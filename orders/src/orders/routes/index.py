from typing import Any

from fastapi import APIRouter

from common.session import RequiredUser
from orders.models import Order, tickets_of

router = APIRouter()


@router.get("")
async def list_orders(user: RequiredUser) -> list[dict[str, Any]]:
    """The caller's orders, oldest first, each with its ticket."""
    orders = await Order.find(Order.user_id == user.id).sort("+_id").to_list()
    tickets = await tickets_of(orders)
    return [order.to_json(tickets.get(order.ticket_id)) for order in orders]
