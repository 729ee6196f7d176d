from typing import Annotated

from fastapi import APIRouter, Depends

from common.responses import error_responses
from tickets.dependencies import TicketServiceDep
from tickets.schemas import Page, TicketResponse, page_params

router = APIRouter()


@router.get("", responses=error_responses(400, 503))
async def list_tickets(
    page: Annotated[Page, Depends(page_params)], tickets: TicketServiceDep
) -> list[TicketResponse]:
    """Tickets for sale, oldest first. Without `limit` every one (as the original answers);
    with it, one page; the next page starts `after` the last id of this one."""
    return [TicketResponse.of(ticket) for ticket in await tickets.listing(page)]
