"""The seller's pages: my tickets with what became of them, and editing one of them."""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from client import csrf
from client.api import Api, get_api
from client.display import seller_ticket_view
from client.errors import PageError
from client.forms import FormErrors, TicketForm
from client.pages import redirect, render, signed_in_listing, signin_redirect, valid_id

router = APIRouter()

TICKET_NOT_FOUND = ("Ticket not found", "This ticket does not exist or is no longer listed.")
NOT_YOURS = ("Not your ticket", "Only the seller of a ticket can edit it.")


@router.get("/my-tickets", response_class=HTMLResponse)
async def my_tickets(request: Request, api: Api = Depends(get_api)) -> Response:
    signed_in = await signed_in_listing(request, api, "/api/tickets/mine")
    if isinstance(signed_in, Response):
        return signed_in
    user, listing = signed_in
    tickets = [seller_ticket_view(ticket) for ticket in listing]
    return render(request, "tickets/mine.html", {"tickets": tickets}, user=user)


async def _edit_page(
    request: Request,
    api: Api,
    ticket_id: str,
    form: TicketForm | None = None,
    errors: FormErrors | None = None,
    status_code: int = 200,
) -> Response:
    """The edit form of the visitor's own ticket; only a notice while the ticket is
    reserved or sold (the API refuses those edits)."""
    if not valid_id(ticket_id):
        raise PageError(404, *TICKET_NOT_FOUND)
    if not api.session:
        return signin_redirect(request)
    user, found = await asyncio.gather(api.current_user(), api.get(f"/api/tickets/{ticket_id}"))
    if not user:
        return signin_redirect(request)
    if not found.ok or not isinstance(found.body, dict):
        raise PageError(404, *TICKET_NOT_FOUND)
    ticket: dict[str, Any] = found.body
    if ticket.get("userId") != user.get("id"):
        raise PageError(403, *NOT_YOURS)
    values = form.values if form else {"title": ticket.get("title"), "price": ticket.get("price")}
    if form is None and isinstance(ticket.get("price"), int | float):
        values["price"] = f"{ticket['price']:.2f}"
    return render(
        request,
        "tickets/edit.html",
        {
            "ticket": ticket,
            "held": bool(ticket.get("orderId")),
            "values": values,
            "errors": errors or FormErrors(),
        },
        user=user,
        status_code=status_code,
    )


@router.get("/tickets/{ticket_id}/edit", response_class=HTMLResponse)
async def edit_page(ticket_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    return await _edit_page(request, api, ticket_id)


@router.post("/tickets/{ticket_id}/edit", dependencies=[Depends(csrf.verify)])
async def edit_ticket(ticket_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    """`PUT /api/tickets/{id}`; the API's errors are shown next to their fields, a refusal
    (reserved, sold) above the form."""
    if not valid_id(ticket_id):
        raise PageError(404, *TICKET_NOT_FOUND)
    if not api.session:
        return redirect(f"/auth/signin?next=/tickets/{ticket_id}/edit")
    form = TicketForm.read(await request.form())
    errors = form.errors
    if not errors:
        result = await api.put(f"/api/tickets/{ticket_id}", form.body)
        if result.ok:
            return redirect("/my-tickets")
        if result.status == 404:
            raise PageError(404, *TICKET_NOT_FOUND)
        if result.status == 401:
            # Signed out meanwhile, or not the owner: the page says which.
            return await _edit_page(request, api, ticket_id, form, status_code=401)
        errors = FormErrors.from_api(result, ("title", "price"))
    return await _edit_page(request, api, ticket_id, form, errors, status_code=400)
