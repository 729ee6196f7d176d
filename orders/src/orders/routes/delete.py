from fastapi import APIRouter, Request, Response

from common.database import retry_on_conflict
from common.errors import BadRequestError
from common.events.subjects import OrderStatus
from common.session import RequiredUser
from orders.models import Order
from orders.routes.show import find_own_order

router = APIRouter()


@router.delete("/{order_id}", status_code=204)
async def cancel_order(order_id: str, user: RequiredUser, request: Request) -> Response:
    """Cancel and free the ticket. A complete order stays complete (400); cancelling a
    cancelled order changes and publishes nothing."""

    async def attempt() -> Order | None:
        order = await find_own_order(order_id, user)
        if order.status == OrderStatus.COMPLETE:
            raise BadRequestError("Cannot cancel a completed order")
        if order.status == OrderStatus.CANCELLED:
            return None
        order.cancel()
        return await order.save_next_version(Order.cancelled_event)

    order = await retry_on_conflict(attempt)
    if order is not None:
        await request.app.state.relay.flush(order)
    return Response(status_code=204)
