import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from client.settings import ClientSettings
from common.service import ServiceSpec
from testsupport.apps import serving
from testsupport.doubles import refusal

Submit = Callable[..., Awaitable[httpx.Response]]
ServeOrder = Callable[..., respx.Route]
ORDER_ID = "6560f0c2a1b2c3d4e5f6aaaa"
ORDER_URL = f"/api/orders/{ORDER_ID}"
ORDER_PAGE = f"/orders/{ORDER_ID}"


def remaining(html: str) -> int:
    match = re.search(r'data-remaining="(\d+)"', html)
    assert match, "no countdown on the page"
    return int(match.group(1))


@pytest.mark.usefixtures("signed_in")
async def test_reserved_order_shows_the_countdown_and_the_payment_form(
    client: httpx.AsyncClient, api_has_order: ServeOrder, session_token: str
) -> None:
    lookup = api_has_order(expires_in=600)

    response = await client.get(ORDER_PAGE)

    html = response.text
    assert response.status_code == 200
    assert 598 <= remaining(html) <= 600
    assert f'data-expired-url="/orders/{ORDER_ID}"' in html
    assert re.search(r"data-countdown-value>(9|10):\d\d<", html)
    assert 'role="timer"' in html
    assert "badge-reserved" in html
    assert ">Reserved<" in html
    assert f'action="/orders/{ORDER_ID}/pay"' in html
    assert "Pay $20.00" in html
    assert '<label for="card-number">' in html  # the test-card form, labelled
    assert f'action="/orders/{ORDER_ID}/cancel"' in html
    assert "js.stripe.com" not in html  # no key: nothing is loaded from the internet
    assert lookup.calls.last.request.headers["cookie"] == f"session={session_token}"


@pytest.mark.usefixtures("signed_in")
async def test_awaiting_payment_can_still_be_paid(
    client: httpx.AsyncClient, api_has_order: ServeOrder
) -> None:
    api_has_order(status="awaiting:payment")

    html = (await client.get(ORDER_PAGE)).text

    assert f'action="/orders/{ORDER_ID}/pay"' in html


@pytest.mark.parametrize(
    ("status", "expires_in", "label", "message"),
    [
        ("created", -5, "Expired", "This reservation expired"),
        ("cancelled", -5, "Expired", "This reservation expired"),
        ("cancelled", 300, "Cancelled", "This order was cancelled"),
        ("complete", 300, "Paid", "Payment received and your ticket is confirmed"),
        ("complete", -300, "Paid", "Payment received and your ticket is confirmed"),
    ],
)
@pytest.mark.usefixtures("signed_in")
async def test_order_states(
    client: httpx.AsyncClient,
    api_has_order: ServeOrder,
    status: str,
    expires_in: int,
    label: str,
    message: str,
) -> None:
    api_has_order(status=status, expires_in=expires_in)

    html = (await client.get(ORDER_PAGE)).text

    assert f'badge-{label.lower()}">{label}<' in html
    assert message in html
    assert "/pay" not in html
    assert "data-countdown" not in html


@pytest.mark.usefixtures("signed_in")
async def test_pay_fallback_pays_with_the_test_card_and_shows_confirmation(
    client: httpx.AsyncClient,
    api: respx.MockRouter,
    api_has_order: ServeOrder,
    session_token: str,
    submit: Submit,
) -> None:
    api_has_order()
    pay = api.post("/api/payments").respond(201, json={"id": "p1"})

    response = await submit(ORDER_PAGE, to=f"{ORDER_PAGE}/pay")

    assert response.status_code == 303
    assert response.headers["location"] == f"/orders/{ORDER_ID}?paid=1"
    request = pay.calls.last.request
    assert json.loads(request.content) == {"token": "pm_card_visa", "orderId": ORDER_ID}
    assert request.headers["cookie"] == f"session={session_token}"

    # Until payment:created reaches orders the order is still `created`: the page says it
    # is confirming and refreshes itself (no JavaScript needed), a bounded number of times.
    confirming = (await client.get(f"/orders/{ORDER_ID}?paid=1")).text
    assert "Payment received" in confirming
    assert "/pay" not in confirming
    assert f'content="2; url=/orders/{ORDER_ID}?paid=2"' in confirming
    gave_up = (await client.get(f"/orders/{ORDER_ID}?paid=15")).text
    assert 'http-equiv="refresh"' not in gave_up
    assert "longer than usual" in gave_up


@pytest.mark.parametrize("status", ["created", "awaiting:payment"])
@pytest.mark.usefixtures("signed_in")
async def test_a_paid_order_past_its_deadline_is_confirming_not_expired(
    client: httpx.AsyncClient, api_has_order: ServeOrder, status: str
) -> None:
    """Paid in the last seconds: orders hears of the payment after the deadline has passed
    on the clock. The page keeps confirming (bounded), and never says it expired."""
    api_has_order(status=status, expires_in=-30)

    confirming = (await client.get(f"/orders/{ORDER_ID}?paid=3")).text

    assert "badge-confirming" in confirming
    assert "Payment received" in confirming
    assert f'content="2; url=/orders/{ORDER_ID}?paid=4"' in confirming
    assert "expired" not in confirming.lower()
    assert "/pay" not in confirming

    gave_up = (await client.get(f"/orders/{ORDER_ID}?paid=15")).text

    assert 'http-equiv="refresh"' not in gave_up
    assert "Payment received, confirmation is taking longer than usual" in gave_up
    assert f'href="/orders/{ORDER_ID}?paid=15"' in gave_up, "checking again stays bounded"
    assert "expired" not in gave_up.lower()
    assert "/pay" not in gave_up


@pytest.mark.usefixtures("signed_in")
async def test_a_paid_order_that_orders_cancelled_says_so_and_mentions_the_refund(
    client: httpx.AsyncClient, api_has_order: ServeOrder
) -> None:
    api_has_order(status="cancelled", expires_in=-30)

    after_payment = (await client.get(f"/orders/{ORDER_ID}?paid=2")).text
    unpaid = (await client.get(f"/orders/{ORDER_ID}")).text

    assert "This reservation expired" in after_payment
    assert 'http-equiv="refresh"' not in after_payment
    assert "the payment is refunded automatically" in after_payment
    assert "refunded" not in unpaid


@pytest.mark.usefixtures("signed_in")
async def test_payment_error_is_shown_on_the_order_page(
    api: respx.MockRouter, api_has_order: ServeOrder, submit: Submit
) -> None:
    api_has_order(status="cancelled", expires_in=-1)
    api.post("/api/payments").respond(400, json=refusal("Cannot pay for a cancelled order"))

    response = await submit(ORDER_PAGE, to=f"{ORDER_PAGE}/pay")

    assert response.status_code == 400
    assert "Cannot pay for a cancelled order" in response.text
    assert "This reservation expired" in response.text


@pytest.mark.usefixtures("signed_in")
async def test_an_unconfirmed_payment_is_explained_on_the_order_page(
    api: respx.MockRouter, api_has_order: ServeOrder, submit: Submit
) -> None:
    """Payments answers 503 when Stripe's answer did not come: its words reach the buyer
    (the charge, if any, is settled automatically), not a generic error page."""
    api_has_order()
    message = "The card processor did not confirm the payment in time."
    api.post("/api/payments").respond(503, json=refusal(message))

    response = await submit(ORDER_PAGE, to=f"{ORDER_PAGE}/pay")

    assert response.status_code == 503
    assert message in response.text
    assert "Pay" in response.text


@pytest.mark.usefixtures("signed_in")
async def test_cancel_deletes_the_order_and_returns_to_it(
    api: respx.MockRouter, api_has_order: ServeOrder, submit: Submit
) -> None:
    api_has_order()
    delete = api.delete(ORDER_URL).respond(204)

    response = await submit(ORDER_PAGE, to=f"{ORDER_PAGE}/cancel")

    assert response.status_code == 303
    assert response.headers["location"] == ORDER_PAGE
    assert delete.called


@pytest.mark.usefixtures("signed_in")
async def test_someone_elses_order_is_a_404_page(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get(ORDER_URL).respond(401, json=refusal("Not authorized"))

    response = await client.get(ORDER_PAGE)

    assert response.status_code == 404
    assert "Order not found" in response.text


async def test_order_page_signed_out_goes_to_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get(ORDER_PAGE)

    assert response.status_code == 303
    assert response.headers["location"] == f"/auth/signin?next=/orders/{ORDER_ID}"


@pytest.mark.usefixtures("signed_in")
async def test_my_orders_lists_each_order_with_its_status(
    client: httpx.AsyncClient,
    api: respx.MockRouter,
    session_token: str,
    order_factory: Callable[..., Any],
) -> None:
    def order(n: int, status: str, expires_in: int, title: str) -> dict[str, Any]:
        return order_factory(
            id=f"{n:024x}",
            status=status,
            expires_in=expires_in,
            ticket={"id": f"{n:024d}", "title": title, "price": 10 * n, "version": 1},
        )

    listing = api.get("/api/orders").respond(
        200,
        json=[
            order(1, "complete", -3000, "Opera"),
            order(2, "cancelled", -2000, "Derby"),
            order(3, "created", 500, "Jazz night"),
            order(4, "cancelled", 800, "Comedy"),
        ],
    )

    response = await client.get("/orders")

    html = response.text
    assert response.status_code == 200
    for n, title, label in [
        (1, "Opera", "Paid"),
        (2, "Derby", "Expired"),
        (3, "Jazz night", "Reserved"),
        (4, "Comedy", "Cancelled"),
    ]:
        row = re.search(rf'href="/orders/{n:024x}">{title}</a>.*?</li>', html, re.S)
        assert row, title
        assert f">{label}</span>" in row.group(0)
    # Newest first, and a live countdown for the one still reserved.
    assert html.index("Comedy") < html.index("Jazz night") < html.index("Derby")
    assert html.count("data-countdown ") == 1
    assert listing.calls.last.request.headers["cookie"] == f"session={session_token}"


async def test_my_orders_needs_sign_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/orders")

    assert response.status_code == 303
    assert response.headers["location"] == "/auth/signin?next=/orders"


@pytest.mark.usefixtures("signed_in")
async def test_empty_order_list(client: httpx.AsyncClient, api: respx.MockRouter) -> None:
    api.get("/api/orders").respond(200, json=[])

    assert "No orders yet" in (await client.get("/orders")).text


@pytest.fixture
async def stripe_client(
    service: ServiceSpec[Any, Any], settings: ClientSettings, base_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The client configured with a Stripe publishable key (cards go through Stripe.js)."""
    configured = settings.model_copy(update={"STRIPE_PUBLISHABLE_KEY": "pk_test_123"})
    async with serving(service.create_app(configured), base_url) as http:
        yield http


async def test_with_a_publishable_key_the_card_is_collected_by_stripe_js(
    stripe_client: httpx.AsyncClient,
    api: respx.MockRouter,
    api_has_order: ServeOrder,
    session_token: str,
    user: dict[str, Any],
) -> None:
    stripe_client.cookies.set("session", session_token)
    api.get("/api/users/currentuser").respond(200, json={"currentUser": user})
    api_has_order()
    pay = api.post("/api/payments").respond(201, json={"id": "p1"})

    page = await stripe_client.get(ORDER_PAGE)

    assert '<script src="https://js.stripe.com/v3/" defer></script>' in page.text
    assert 'data-stripe-key="pk_test_123"' in page.text
    assert f'data-order-id="{ORDER_ID}"' in page.text
    assert "card-number" not in page.text  # no test-card form in production
    assert "https://js.stripe.com" in page.headers["content-security-policy"]

    # The form's server-side route pays with the PaymentMethod the page put in `token`,
    # never with the test card.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    empty = await stripe_client.post(f"{ORDER_PAGE}/pay", data={"csrf_token": token.group(1)})
    paid = await stripe_client.post(
        f"{ORDER_PAGE}/pay", data={"csrf_token": token.group(1), "token": "pm_1Abc"}
    )
    assert empty.status_code == 400
    assert "Enter your card details" in empty.text
    assert paid.status_code == 303
    assert json.loads(pay.calls.last.request.content) == {"token": "pm_1Abc", "orderId": ORDER_ID}
    assert pay.call_count == 1


@pytest.mark.usefixtures("signed_in")
async def test_paying_right_after_purchase_waits_for_payments_to_know_the_order(
    api: respx.MockRouter, api_has_order: ServeOrder, submit: Submit
) -> None:
    """order:created reaches payments a moment after the order exists in orders."""
    api_has_order()
    pay = api.post("/api/payments").mock(
        side_effect=[
            httpx.Response(404, json=refusal("Not Found")),
            httpx.Response(201, json={"id": "p1"}),
        ]
    )

    response = await submit(ORDER_PAGE, to=f"{ORDER_PAGE}/pay")

    assert response.status_code == 303
    assert response.headers["location"] == f"/orders/{ORDER_ID}?paid=1"
    assert pay.call_count == 2
