from fastapi import APIRouter, Response

from common.responses import error_responses
from common.session import RequiredUser
from orders.dependencies import OrderServiceDep

router = APIRouter()


@router.delete(
    "/{order_id}",
    status_code=204,
    response_class=Response,
    responses=error_responses(400, 401, 404, 409, 503),
)
async def cancel_order(order_id: str, user: RequiredUser, orders: OrderServiceDep) -> None:
    """Cancel and free the ticket; publishes order:cancelled. A complete order stays complete
    (400 `Cannot cancel a completed order`); cancelling a cancelled order changes and
    publishes nothing."""
    await orders.cancel(order_id, user.id)
