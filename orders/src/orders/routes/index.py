from typing import Any

from fastapi import APIRouter

from common.session import RequiredUser
from orders.dependencies import OrderServiceDep

router = APIRouter()


@router.get("")
async def list_orders(user: RequiredUser, orders: OrderServiceDep) -> list[dict[str, Any]]:
    """The caller's orders, oldest first, each with its ticket."""
    return [order.to_json(ticket) for order, ticket in await orders.orders_of(user.id)]
