import asyncio
import re
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from client.api import Api, get_api
from client.pages import render

router = APIRouter()

PAGE_SIZE = 24
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


@router.get("/", response_class=HTMLResponse)
async def landing(
    request: Request, after: str | None = None, api: Api = Depends(get_api)
) -> HTMLResponse:
    """Tickets for sale, a page at a time when the API pages (`?limit=&after=`)."""
    params: dict[str, str | int] = {"limit": PAGE_SIZE + 1}
    if after and _OBJECT_ID.match(after):
        params["after"] = after
    user, listing = await asyncio.gather(api.current_user(), api.get("/api/tickets", params))
    tickets: list[dict[str, Any]] = [
        t for t in (listing.body if isinstance(listing.body, list) else []) if isinstance(t, dict)
    ]
    next_after = None
    if len(tickets) == PAGE_SIZE + 1:  # the API paged: there is at least one more
        tickets = tickets[:PAGE_SIZE]
        next_after = tickets[-1].get("id")
    # An API that ignores `limit` returns everything: show it all, with no paging links.
    tickets = [t for t in tickets if not t.get("orderId")]
    return render(
        request,
        "landing.html",
        {"tickets": tickets, "next_after": next_after, "paged": "after" in params},
        user=user,
    )
