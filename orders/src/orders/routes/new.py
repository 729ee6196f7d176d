from typing import Any

from fastapi import APIRouter

from common.idempotency import RequestId
from common.session import RequiredUser
from orders.dependencies import OrderServiceDep
from orders.schemas import NewOrderBody

router = APIRouter()


@router.post("", status_code=201)
async def create_order(
    body: NewOrderBody, user: RequiredUser, request_id: RequestId, orders: OrderServiceDep
) -> dict[str, Any]:
    order, ticket = await orders.reserve(body.ticket_id, user.id, request_id)
    return order.to_json(ticket)
