from typing import Any

from fastapi import APIRouter

from common.session import RequiredUser
from orders.dependencies import OrderServiceDep

router = APIRouter()


@router.get("/{order_id}")
async def show_order(order_id: str, user: RequiredUser, orders: OrderServiceDep) -> dict[str, Any]:
    order, ticket = await orders.with_ticket(await orders.find_own(order_id, user.id))
    return order.to_json(ticket)
