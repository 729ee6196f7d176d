import asyncio
import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from client.api import Api, get_api
from client.pages import live_url, render

router = APIRouter()

PAGE_SIZE = 24
_OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


@router.get("/", response_class=HTMLResponse)
async def landing(
    request: Request, after: str | None = None, q: str | None = None, api: Api = Depends(get_api)
) -> HTMLResponse:
    """Tickets for sale, a page at a time when the API pages (`?limit=&after=`); with `q`, those
    whose title has its words (`GET /api/tickets?q=`)."""
    params: dict[str, str | int] = {"limit": PAGE_SIZE + 1}
    if after and _OBJECT_ID.match(after):
        params["after"] = after
    query = (q or "").strip()
    if query:
        params["q"] = query
    user, listing, live = await asyncio.gather(
        api.current_user(), api.get("/api/tickets", params), live_url(request, "/events/tickets")
    )
    search_error = None
    if query and listing.status == 400:
        search_error = " ".join(e["message"] for e in listing.errors)
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
        {
            "tickets": tickets,
            "next_after": next_after,
            "paged": "after" in params,
            "query": query,
            "search_error": search_error,
            "more_url": "/?" + urlencode({**({"q": query} if query else {}), "after": next_after})
            if next_after
            else None,
            "first_url": "/?" + urlencode({"q": query}) if query else "/",
            "live_url": live,
        },
        user=user,
    )
