from fastapi import APIRouter

from common.responses import error_responses
from tickets.dependencies import TicketServiceDep
from tickets.schemas import TicketResponse

router = APIRouter()


@router.get("/{ticket_id}", responses=error_responses(404, 503))
async def show_ticket(ticket_id: str, tickets: TicketServiceDep) -> TicketResponse:
    return TicketResponse.of(await tickets.find(ticket_id))
