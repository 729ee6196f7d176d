from typing import Any

from fastapi import APIRouter

from tickets.dependencies import TicketServiceDep

router = APIRouter()


@router.get("/{ticket_id}")
async def show_ticket(ticket_id: str, tickets: TicketServiceDep) -> dict[str, Any]:
    return (await tickets.find(ticket_id)).to_json()
