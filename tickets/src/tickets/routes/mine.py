from typing import Annotated

from fastapi import APIRouter, Depends

from common.responses import error_responses
from common.session import RequiredUser
from tickets.dependencies import TicketServiceDep
from tickets.schemas import Page, SellerTicketResponse, page_params

router = APIRouter()


@router.get("/mine", responses=error_responses(400, 401, 503))
async def my_tickets(
    page: Annotated[Page, Depends(page_params)], user: RequiredUser, tickets: TicketServiceDep
) -> list[SellerTicketResponse]:
    """The signed-in seller's tickets, newest first, each with its `state` (`for-sale`,
    `reserved` until `reservedUntil`, `sold` at `soldAt`). Paged like the listing
    (`?limit=&after=`: the next page starts after the last id of this one)."""
    return [SellerTicketResponse.of(ticket) for ticket in await tickets.of_seller(user.id, page)]
