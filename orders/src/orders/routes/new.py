from fastapi import APIRouter

from common.idempotency import RequestId
from common.responses import error_responses
from common.session import RequiredUser
from orders.dependencies import OrderServiceDep
from orders.schemas import NewOrderBody, OrderResponse

router = APIRouter()


@router.post("", status_code=201, responses=error_responses(400, 401, 404, 503))
async def create_order(
    body: NewOrderBody, user: RequiredUser, request_id: RequestId, orders: OrderServiceDep
) -> OrderResponse:
    """Reserve the ticket until `expiresAt` (400 `Ticket is already reserved` when another
    order holds it); publishes order:created. The same request sent again (its X-Request-ID)
    answers with the order it made."""
    order, ticket = await orders.reserve(body.ticket_id, user.id, request_id)
    return OrderResponse.of(order, ticket)
