from typing import Annotated, Any

from fastapi import APIRouter, Depends

from tickets.models import UNRESERVED, Ticket
from tickets.schemas import Page, page_params

router = APIRouter()


@router.get("")
async def list_tickets(page: Annotated[Page, Depends(page_params)]) -> list[dict[str, Any]]:
    """Tickets for sale, oldest first. Without `limit` every one (as the original answers);
    with it, one page; the next page starts `after` the last id of this one."""
    query: dict[str, Any] = dict(UNRESERVED)
    if page.after is not None:
        query["_id"] = {"$gt": page.after}
    cursor = Ticket.find(query).sort("+_id")
    if page.limit is not None:
        cursor = cursor.limit(page.limit)
    return [ticket.to_json() for ticket in await cursor.to_list()]
