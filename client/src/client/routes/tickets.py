"""Sell a ticket, see one, and Purchase it (which creates an order holding it)."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from client import csrf
from client.api import Api, get_api, post_allowing_lag
from client.errors import PageError
from client.forms import FormErrors, TicketForm
from client.pages import live_url, redirect, render, signin_redirect, valid_id

router = APIRouter(prefix="/tickets")

TICKET_NOT_FOUND = ("Ticket not found", "This ticket does not exist or is no longer listed.")


@router.get("/new", response_class=HTMLResponse)
async def new_ticket_page(request: Request, api: Api = Depends(get_api)) -> Response:
    user = await api.current_user()
    if not user:
        return signin_redirect(request)
    return render(request, "tickets/new.html", {"values": {}, "errors": FormErrors()}, user=user)


@router.post("/new", dependencies=[Depends(csrf.verify)])
async def create_ticket(request: Request, api: Api = Depends(get_api)) -> Response:
    if not api.session:
        return redirect("/auth/signin?next=/tickets/new")
    form = TicketForm.read(await request.form())
    errors = form.errors
    if not errors:
        result = await api.post("/api/tickets", form.body)
        if result.status == 401:
            return redirect("/auth/signin?next=/tickets/new")
        if result.ok:
            return redirect("/")
        errors = FormErrors.from_api(result, ("title", "price"))
    user = await api.current_user()
    if not user:
        return redirect("/auth/signin?next=/tickets/new")
    values = form.values
    return render(
        request,
        "tickets/new.html",
        {"values": values, "errors": errors},
        user=user,
        status_code=400,
    )


async def _ticket_page(
    request: Request,
    api: Api,
    ticket_id: str,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    if not valid_id(ticket_id):
        raise PageError(404, *TICKET_NOT_FOUND)
    user, found, live = await asyncio.gather(
        api.current_user(),
        api.get(f"/api/tickets/{ticket_id}"),
        live_url(request, f"/events/tickets/{ticket_id}"),
    )
    if not found.ok or not isinstance(found.body, dict):
        raise PageError(404, *TICKET_NOT_FOUND)
    ticket: dict[str, Any] = found.body
    return render(
        request,
        "tickets/show.html",
        {
            "ticket": ticket,
            "errors": errors or FormErrors(),
            "is_seller": bool(user and user.get("id") == ticket.get("userId")),
            "live_url": live,
        },
        user=user,
        status_code=status_code,
    )


@router.get("/{ticket_id}", response_class=HTMLResponse)
async def show_ticket(ticket_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    return await _ticket_page(request, api, ticket_id)


@router.post("/{ticket_id}/purchase", dependencies=[Depends(csrf.verify)])
async def purchase(ticket_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    """Reserve the ticket (`POST /api/orders`) and go to the new order to pay for it."""
    if not valid_id(ticket_id):
        raise PageError(404, *TICKET_NOT_FOUND)
    if not api.session:
        return redirect(f"/auth/signin?next=/tickets/{ticket_id}")

    async def ticket_exists() -> bool:
        return (await api.get(f"/api/tickets/{ticket_id}")).ok

    result = await post_allowing_lag(api, "/api/orders", {"ticketId": ticket_id}, ticket_exists)
    if result.ok and isinstance(result.body, dict) and result.body.get("id"):
        return redirect(f"/orders/{result.body['id']}")
    if result.status == 401:
        return redirect(f"/auth/signin?next=/tickets/{ticket_id}")
    if result.status == 404:
        raise PageError(404, *TICKET_NOT_FOUND)
    return await _ticket_page(request, api, ticket_id, FormErrors.from_api(result), status_code=400)
