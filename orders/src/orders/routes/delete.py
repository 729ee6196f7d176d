from fastapi import APIRouter, Response

from common.session import RequiredUser
from orders.dependencies import OrderServiceDep

router = APIRouter()


@router.delete("/{order_id}", status_code=204)
async def cancel_order(order_id: str, user: RequiredUser, orders: OrderServiceDep) -> Response:
    """Cancel and free the ticket. A complete order stays complete (400); cancelling a
    cancelled order changes and publishes nothing."""
    await orders.cancel(order_id, user.id)
    return Response(status_code=204)
