from fastapi import APIRouter

from common.idempotency import RequestId
from common.responses import error_responses
from common.session import RequiredUser
from tickets.dependencies import TicketServiceDep
from tickets.schemas import TicketBody, TicketResponse

router = APIRouter()


@router.post("", status_code=201, responses=error_responses(400, 401, 503))
async def create_ticket(
    body: TicketBody, user: RequiredUser, request_id: RequestId, tickets: TicketServiceDep
) -> TicketResponse:
    """Sell a ticket (signed in); publishes ticket:created. The same request sent again (its
    X-Request-ID) answers with the ticket it made."""
    return TicketResponse.of(await tickets.sell(body, user.id, request_id))
