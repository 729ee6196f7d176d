from typing import Annotated

from fastapi import APIRouter, Depends, Response

from common.responses import error_responses
from tickets.dependencies import TicketServiceDep
from tickets.schemas import Page, TicketResponse, page_params
from tickets.search import Search, search, search_params

router = APIRouter()


@router.get("", response_model=list[TicketResponse], responses=error_responses(400, 503))
async def list_tickets(
    page: Annotated[Page, Depends(page_params)],
    query: Annotated[Search | None, Depends(search_params)],
    tickets: TicketServiceDep,
) -> Response:
    """Tickets for sale, oldest first. Without `limit` every one (as the original answers);
    with it, one page; the next page starts `after` the last id of this one. With `q`, only
    those whose title has every word of `q` (case and accents ignored), paged the same way."""
    answer = await (search(query, page) if query is not None else tickets.listing(page))
    return Response(answer, media_type="application/json")
