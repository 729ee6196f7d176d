from fastapi import APIRouter

from common.responses import error_responses
from common.session import RequiredUser
from orders.dependencies import OrderServiceDep
from orders.schemas import OrderResponse

router = APIRouter()


@router.get("/{order_id}", responses=error_responses(401, 404, 503))
async def show_order(order_id: str, user: RequiredUser, orders: OrderServiceDep) -> OrderResponse:
    """One of the caller's orders (401 for another's), with its ticket."""
    order, ticket = await orders.with_ticket(await orders.find_own(order_id, user.id))
    return OrderResponse.of(order, ticket)
