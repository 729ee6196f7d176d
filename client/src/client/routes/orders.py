"""My orders, one order (countdown, payment, cancel), and the server-side payment route.

With a Stripe publishable key the order page pays from the browser (Stripe.js creates a
PaymentMethod, the page posts it to `/api/payments`). `POST /orders/{id}/pay` is the
server-side way: it pays with the test card `pm_card_visa` when no key is configured (the
local Stripe stand-in), or with the PaymentMethod id the form carries in `token`.
"""

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from client import csrf
from client.api import Api, ApiUnavailable, get_api, post_allowing_lag
from client.dependencies import client_of
from client.display import order_view
from client.errors import PageError
from client.forms import FormErrors
from client.pages import live_url, redirect, render, signed_in_listing, signin_redirect, valid_id

router = APIRouter(prefix="/orders")

TEST_CARD_TOKEN = "pm_card_visa"  # noqa: S105  # Stripe's test card, not a secret
CONFIRM_ATTEMPTS = 15
"""How many times the page refreshes itself while a paid order is being confirmed."""
UNCONFIRMED_STATUSES = ("created", "awaiting:payment")
"""Statuses of an order whose payment orders has not heard of yet."""
ORDER_NOT_FOUND = ("Order not found", "This order does not exist or belongs to someone else.")


@router.get("", response_class=HTMLResponse)
async def my_orders(request: Request, api: Api = Depends(get_api)) -> Response:
    signed_in = await signed_in_listing(request, api, "/api/orders")
    if isinstance(signed_in, Response):
        return signed_in
    user, listing = signed_in
    orders = [order_view(order) for order in listing]
    orders.sort(key=lambda o: o.expires_at.timestamp() if o.expires_at else 0, reverse=True)
    return render(request, "orders/index.html", {"orders": orders}, user=user)


async def _order_page(
    request: Request,
    api: Api,
    order_id: str,
    *,
    errors: FormErrors | None = None,
    paid: int = 0,
    status_code: int = 200,
) -> Response:
    if not valid_id(order_id):
        raise PageError(404, *ORDER_NOT_FOUND)
    if not api.session:
        return signin_redirect(request)
    user, found, live = await asyncio.gather(
        api.current_user(),
        api.get(f"/api/orders/{order_id}"),
        live_url(request, f"/events/orders/{order_id}"),
    )
    if not user:
        return signin_redirect(request)
    if not found.ok or not isinstance(found.body, dict):
        raise PageError(404, *ORDER_NOT_FOUND)  # also another user's order (401)
    order = order_view(found.body)
    # Right after a payment the order is still unconfirmed until payment:created reaches
    # orders, which may be after the deadline has passed on the clock: it is confirming,
    # not expired (orders decides; a payment it refuses is refunded by payments).
    confirming = paid > 0 and order.status in UNCONFIRMED_STATUSES
    context: dict[str, Any] = {
        "order": order,
        "errors": errors or FormErrors(),
        "confirming": confirming,
        "refresh_url": (
            f"/orders/{order.id}?paid={paid + 1}"
            if confirming and paid < CONFIRM_ATTEMPTS
            else None
        ),
        # Looking again after the refreshes gave up does not start them over.
        "check_again_url": f"/orders/{order.id}?paid={paid}",
        "paid": paid,
        "stripe_key": client_of(request).stripe_key,
        # Only an order that can still change (paid, or cancelled) is watched.
        "live_url": live if order.state == "reserved" or confirming else None,
    }
    return render(request, "orders/show.html", context, user=user, status_code=status_code)


@router.get("/{order_id}", response_class=HTMLResponse)
async def show_order(
    order_id: str, request: Request, paid: int = 0, api: Api = Depends(get_api)
) -> Response:
    """`?paid=N` marks the page shown right after a payment: the order turns `complete` a
    moment later (payment:created travels to orders), so until then, whatever the clock
    says about the deadline, the page says it is confirming and refreshes itself, without
    JavaScript, a bounded number of times; then it says confirmation is taking longer."""
    return await _order_page(request, api, order_id, paid=max(0, paid))


@router.post("/{order_id}/pay", dependencies=[Depends(csrf.verify)])
async def pay(order_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    if not valid_id(order_id):
        raise PageError(404, *ORDER_NOT_FOUND)
    if not api.session:
        return redirect(f"/auth/signin?next=/orders/{order_id}")
    form = await request.form()
    submitted = str(form.get("token", "")).strip()
    token = submitted if client_of(request).stripe_key else TEST_CARD_TOKEN
    if not token:
        errors = FormErrors()
        errors.add("Enter your card details to pay.")
        return await _order_page(request, api, order_id, errors=errors, status_code=400)

    async def order_exists() -> bool:
        return (await api.get(f"/api/orders/{order_id}")).ok

    try:
        result = await post_allowing_lag(
            api, "/api/payments", {"token": token, "orderId": order_id}, order_exists
        )
    except ApiUnavailable as unavailable:
        if unavailable.status != 503 or unavailable.answer is None:
            raise
        # E.g. Stripe did not confirm in time: say what payments says (the charge, if any,
        # is settled automatically), on the order page.
        errors = FormErrors.from_api(unavailable.answer)
        return await _order_page(request, api, order_id, errors=errors, status_code=503)
    if result.ok:
        return redirect(f"/orders/{order_id}?paid=1")
    if result.status == 404:
        raise PageError(404, *ORDER_NOT_FOUND)
    errors = FormErrors.from_api(result)
    return await _order_page(request, api, order_id, errors=errors, status_code=400)


@router.post("/{order_id}/cancel", dependencies=[Depends(csrf.verify)])
async def cancel(order_id: str, request: Request, api: Api = Depends(get_api)) -> Response:
    """Give the ticket back before the hold runs out (`DELETE /api/orders/{id}`)."""
    if not valid_id(order_id):
        raise PageError(404, *ORDER_NOT_FOUND)
    if not api.session:
        return redirect(f"/auth/signin?next=/orders/{order_id}")
    result = await api.delete(f"/api/orders/{order_id}")
    if result.ok:
        return redirect(f"/orders/{order_id}")
    if result.status == 404:
        raise PageError(404, *ORDER_NOT_FOUND)
    return await _order_page(
        request, api, order_id, errors=FormErrors.from_api(result), status_code=400
    )
