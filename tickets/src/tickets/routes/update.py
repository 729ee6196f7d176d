from fastapi import APIRouter

from common.responses import error_responses
from common.session import RequiredUser
from tickets.dependencies import TicketServiceDep
from tickets.schemas import TicketBody, TicketResponse

router = APIRouter()


@router.put("/{ticket_id}", responses=error_responses(400, 401, 404, 409, 503))
async def update_ticket(
    ticket_id: str, body: TicketBody, user: RequiredUser, tickets: TicketServiceDep
) -> TicketResponse:
    """The owner changes a free ticket (400 `Cannot edit a reserved ticket` while an order
    holds it); publishes ticket:updated."""
    return TicketResponse.of(await tickets.edit(ticket_id, body, user.id))
