from typing import Any

from fastapi import APIRouter

from common.idempotency import RequestId
from common.session import RequiredUser
from tickets.dependencies import TicketServiceDep
from tickets.schemas import TicketBody

router = APIRouter()


@router.post("", status_code=201)
async def create_ticket(
    body: TicketBody, user: RequiredUser, request_id: RequestId, tickets: TicketServiceDep
) -> dict[str, Any]:
    return (await tickets.sell(body, user.id, request_id)).to_json()
