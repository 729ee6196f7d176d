from typing import Any

from fastapi import APIRouter

from common.session import RequiredUser
from tickets.dependencies import TicketServiceDep
from tickets.schemas import TicketBody

router = APIRouter()


@router.put("/{ticket_id}")
async def update_ticket(
    ticket_id: str, body: TicketBody, user: RequiredUser, tickets: TicketServiceDep
) -> dict[str, Any]:
    return (await tickets.edit(ticket_id, body, user.id)).to_json()
