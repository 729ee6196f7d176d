from fastapi import APIRouter

from common.responses import error_responses
from common.session import RequiredUser
from orders.dependencies import OrderServiceDep
from orders.schemas import OrderResponse

router = APIRouter()


@router.get("", responses=error_responses(401, 503))
async def list_orders(user: RequiredUser, orders: OrderServiceDep) -> list[OrderResponse]:
    """The caller's orders, oldest first, each with its ticket."""
    return [OrderResponse.of(order, ticket) for order, ticket in await orders.orders_of(user.id)]
