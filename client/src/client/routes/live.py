"""The live pages' event streams (Server-Sent Events), see `client.live`.

- `GET /events/tickets`: tickets put on sale or changed (the landing page).
- `GET /events/tickets/{id}`: that ticket reserved or free again (its page).
- `GET /events/orders/{id}`: that order paid or cancelled (its page; its buyer only).

Each takes the stream sequence to start after: `?after=` (the page's position when it was
rendered), or the `Last-Event-ID` a reconnecting browser sends (which wins). Bad input is a
400 in the contract's error shape. While live updates are unavailable the answer is 204 No
Content, which tells a browser's EventSource to stop trying (the page stays a plain page).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from client.api import Api, ApiUnavailable, get_api
from client.dependencies import client_of
from client.live import Reduce, of_one, order_state, ticket_state
from client.pages import valid_id
from common.events.subjects import Subjects

router = APIRouter(prefix="/events")

STREAM_HEADERS = {
    "Cache-Control": "no-store",
    # nginx (the local ingress and ingress-nginx alike) passes the stream on unbuffered.
    "X-Accel-Buffering": "no",
}
TICKET_SUBJECTS = [Subjects.TICKET_CREATED, Subjects.TICKET_UPDATED]
ORDER_SUBJECTS = [Subjects.ORDER_COMPLETED, Subjects.ORDER_CANCELLED]


def error(status: int, message: str, field: str | None = None) -> JSONResponse:
    entry = {"message": message} | ({"field": field} if field else {})
    return JSONResponse({"errors": [entry]}, status_code=status)


def start_after(request: Request) -> int | JSONResponse | None:
    """The sequence to start after: `Last-Event-ID`, else `?after=`, else None (from now);
    a 400 naming the bad one."""
    for name, value, field in (
        ("Last-Event-ID", request.headers.get("last-event-id"), "Last-Event-ID"),
        ("After", request.query_params.get("after"), "after"),
    ):
        if value is None or value == "":
            continue
        if not value.isascii() or not value.isdigit() or len(value) > 18:
            return error(400, f"{name} must be a stream sequence (a whole number)", field)
        return int(value)
    return None


def stream(request: Request, subjects: list[Subjects], reduce: Reduce) -> Response:
    after = start_after(request)
    if isinstance(after, JSONResponse):
        return after
    live = client_of(request).live
    if not live.available:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return StreamingResponse(
        live.stream(subjects, reduce, after), media_type="text/event-stream", headers=STREAM_HEADERS
    )


@router.get("/tickets")
async def tickets_events(request: Request) -> Response:
    return stream(request, TICKET_SUBJECTS, ticket_state)


@router.get("/tickets/{ticket_id}")
async def ticket_events(ticket_id: str, request: Request) -> Response:
    if not valid_id(ticket_id):
        return error(404, "Not Found")
    return stream(request, [Subjects.TICKET_UPDATED], of_one(ticket_state, ticket_id))


@router.get("/orders/{order_id}")
async def order_events(order_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    """Only the buyer may follow an order (the API decides: 401/404 are answered as 404)."""
    if not valid_id(order_id):
        return error(404, "Not Found")
    if not api.session:
        return error(401, "Not authorized")
    try:
        found = await api.get(f"/api/orders/{order_id}")
    except ApiUnavailable as unavailable:
        status = 503 if unavailable.status == 503 else 502
        return error(status, "Live updates are unavailable right now")
    if not found.ok:
        return error(404, "Not Found")
    return stream(request, ORDER_SUBJECTS, of_one(order_state, order_id))
