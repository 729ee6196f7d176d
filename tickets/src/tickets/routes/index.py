from typing import Annotated

from fastapi import APIRouter, Depends, Response

from common.responses import error_responses
from tickets.dependencies import TicketServiceDep
from tickets.schemas import Page, TicketResponse, page_params

router = APIRouter()


@router.get("", response_model=list[TicketResponse], responses=error_responses(400, 503))
async def list_tickets(
    page: Annotated[Page, Depends(page_params)], tickets: TicketServiceDep
) -> Response:
    """Tickets for sale, oldest first. Without `limit` every one (as the original answers);
    with it, one page; the next page starts `after` the last id of this one."""
    return Response(await tickets.listing(page), media_type="application/json")
