from typing import Annotated, Any

from fastapi import APIRouter, Depends

from tickets.dependencies import TicketServiceDep
from tickets.schemas import Page, page_params

router = APIRouter()


@router.get("")
async def list_tickets(
    page: Annotated[Page, Depends(page_params)], tickets: TicketServiceDep
) -> list[dict[str, Any]]:
    """Tickets for sale, oldest first. Without `limit` every one (as the original answers);
    with it, one page; the next page starts `after` the last id of this one."""
    return [ticket.to_json() for ticket in await tickets.listing(page)]
