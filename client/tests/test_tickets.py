import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from common.money import PRICE_RULE
from testsupport.doubles import refusal

Submit = Callable[..., Awaitable[httpx.Response]]
ServeTicket = Callable[..., respx.Route]
TICKET_ID = "6560f0c2a1b2c3d4e5f60001"
TICKET_PAGE = f"/tickets/{TICKET_ID}"


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else ""


async def test_sell_page_needs_a_signed_in_visitor(client: httpx.AsyncClient) -> None:
    response = await client.get("/tickets/new")

    assert response.status_code == 303
    assert response.headers["location"] == "/auth/signin?next=/tickets/new"


@pytest.mark.usefixtures("signed_in")
async def test_sell_page_form(client: httpx.AsyncClient) -> None:
    html = (await client.get("/tickets/new")).text

    assert 'action="/tickets/new"' in html
    assert '<label for="title">' in html
    assert '<label for="price">' in html


@pytest.mark.usefixtures("signed_in")
async def test_selling_normalises_the_price_to_cents_and_redirects(
    api: respx.MockRouter,
    session_token: str,
    submit: Submit,
    ticket_factory: Callable[..., Any],
) -> None:
    create = api.post("/api/tickets").respond(201, json=ticket_factory(price=10))

    response = await submit("/tickets/new", title="  Jazz night ", price="10")
    await submit("/tickets/new", title="Cup final", price="$1,234.567")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    first, second = (json.loads(call.request.content) for call in create.calls)
    assert first == {"title": "Jazz night", "price": "10.00"}
    assert second == {"title": "Cup final", "price": "1234.57"}
    assert create.calls[0].request.headers["cookie"] == f"session={session_token}"


@pytest.mark.usefixtures("signed_in")
async def test_a_price_that_is_not_a_number_is_shown_next_to_the_price(
    api: respx.MockRouter, submit: Submit
) -> None:
    create = api.post("/api/tickets")

    response = await submit("/tickets/new", title="", price="ten")

    assert response.status_code == 400
    assert field_error(response.text, "price").startswith("Price must be a number")
    assert field_error(response.text, "title") == "Title is required"
    assert 'value="ten"' in response.text
    assert not create.called


@pytest.mark.usefixtures("signed_in")
async def test_api_validation_error_lands_next_to_its_field(
    api: respx.MockRouter, submit: Submit
) -> None:
    api.post("/api/tickets").respond(400, json=refusal("Title must not be empty", field="title"))

    response = await submit("/tickets/new", title="x", price="7.5")

    assert response.status_code == 400
    assert field_error(response.text, "title") == "Title must not be empty"
    assert 'value="7.50"' in response.text  # shown normalised


@pytest.mark.parametrize("price", ["0.001", "0.49", "1000000.01"])
@pytest.mark.usefixtures("signed_in")
async def test_a_price_out_of_range_is_refused_before_asking_the_api(
    api: respx.MockRouter, submit: Submit, price: str
) -> None:
    create = api.post("/api/tickets")

    response = await submit("/tickets/new", title="Free gig", price=price)

    assert field_error(response.text, "price") == PRICE_RULE
    assert not create.called


@pytest.mark.usefixtures("signed_in")
async def test_ticket_detail_offers_purchase_to_a_signed_in_visitor(
    client: httpx.AsyncClient, api_has_ticket: ServeTicket
) -> None:
    api_has_ticket(price=45.5)

    response = await client.get(TICKET_PAGE)

    html = response.text
    assert response.status_code == 200
    assert "<h1>Jazz night</h1>" in html
    assert "$45.50" in html
    assert f'action="/tickets/{TICKET_ID}/purchase"' in html
    assert ">Purchase</button>" in html


async def test_ticket_detail_signed_out_asks_to_sign_in(
    client: httpx.AsyncClient, api_has_ticket: ServeTicket
) -> None:
    api_has_ticket()

    html = (await client.get(TICKET_PAGE)).text

    assert f'href="/auth/signin?next=/tickets/{TICKET_ID}"' in html
    assert "/purchase" not in html


@pytest.mark.usefixtures("signed_in")
async def test_reserved_ticket_cannot_be_purchased(
    client: httpx.AsyncClient, api_has_ticket: ServeTicket
) -> None:
    api_has_ticket(orderId="o1")

    html = (await client.get(TICKET_PAGE)).text

    assert "badge-reserved" in html
    assert "/purchase" not in html


async def test_unknown_or_malformed_ticket_is_a_404_page(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets/doesnotexist").respond(404, json=refusal("Not Found"))
    lookup = api.get(url__regex=r".*/api/tickets/\.\..*")

    missing = await client.get("/tickets/doesnotexist")
    odd = await client.get("/tickets/..%2Fusers")

    assert missing.status_code == 404
    assert "Ticket not found" in missing.text
    assert odd.status_code == 404
    assert not lookup.called


@pytest.mark.usefixtures("signed_in")
async def test_purchase_creates_an_order_and_goes_to_it(
    api: respx.MockRouter,
    api_has_ticket: ServeTicket,
    session_token: str,
    submit: Submit,
    order_factory: Callable[..., Any],
) -> None:
    api_has_ticket()
    create = api.post("/api/orders").respond(201, json=order_factory(id="0123456789abcdef01234567"))

    response = await submit(TICKET_PAGE, to=f"{TICKET_PAGE}/purchase")

    assert response.status_code == 303
    assert response.headers["location"] == "/orders/0123456789abcdef01234567"
    request = create.calls.last.request
    assert json.loads(request.content) == {"ticketId": TICKET_ID}
    assert request.headers["cookie"] == f"session={session_token}"


@pytest.mark.usefixtures("signed_in")
async def test_purchase_of_a_reserved_ticket_shows_why(
    api: respx.MockRouter, api_has_ticket: ServeTicket, submit: Submit
) -> None:
    api_has_ticket()
    api.post("/api/orders").respond(400, json=refusal("Ticket is already reserved"))

    response = await submit(TICKET_PAGE, to=f"{TICKET_PAGE}/purchase")

    assert response.status_code == 400
    assert "Ticket is already reserved" in response.text
    assert 'role="alert"' in response.text


async def test_purchase_when_signed_out_goes_to_sign_in(
    api: respx.MockRouter, submit: Submit
) -> None:
    create = api.post("/api/orders")

    response = await submit("/auth/signin", to=f"{TICKET_PAGE}/purchase")

    assert response.status_code == 303
    assert response.headers["location"] == f"/auth/signin?next=/tickets/{TICKET_ID}"
    assert not create.called


@pytest.mark.usefixtures("signed_in")
async def test_purchase_waits_for_a_ticket_orders_has_not_heard_of_yet(
    api: respx.MockRouter,
    api_has_ticket: ServeTicket,
    submit: Submit,
    order_factory: Callable[..., Any],
) -> None:
    """Just listed: ticket:created has not reached orders, which answers 404 for a moment."""
    api_has_ticket()
    create = api.post("/api/orders").mock(
        side_effect=[
            httpx.Response(404, json=refusal("Not Found")),
            httpx.Response(404, json=refusal("Not Found")),
            httpx.Response(201, json=order_factory(id="0123456789abcdef01234567")),
        ]
    )

    response = await submit(TICKET_PAGE, to=f"{TICKET_PAGE}/purchase")

    assert response.status_code == 303
    assert response.headers["location"] == "/orders/0123456789abcdef01234567"
    assert create.call_count == 3


@pytest.mark.usefixtures("signed_in")
async def test_purchase_of_a_ticket_that_does_not_exist_is_a_404_at_once(
    api: respx.MockRouter, submit: Submit
) -> None:
    api.get(f"/api/tickets/{TICKET_ID}").respond(404, json=refusal("Not Found"))
    create = api.post("/api/orders").respond(404, json=refusal("Not Found"))

    # (the form on the 404 page is the header's)
    response = await submit(TICKET_PAGE, to=f"{TICKET_PAGE}/purchase")

    assert response.status_code == 404
    assert "Ticket not found" in response.text
    assert create.call_count == 1


async def test_selling_when_signed_out_goes_to_sign_in(
    api: respx.MockRouter, submit: Submit
) -> None:
    create = api.post("/api/tickets")

    response = await submit("/auth/signin", to="/tickets/new", title="Gig", price="5")

    assert response.status_code == 303
    assert response.headers["location"] == "/auth/signin?next=/tickets/new"
    assert not create.called


async def test_the_visitors_request_id_goes_with_the_api_call(
    client: httpx.AsyncClient,
    api: respx.MockRouter,
    signed_in: respx.Route,
    form_token: Callable[..., Awaitable[str]],
    ticket_factory: Callable[..., Any],
) -> None:
    """The ingress may send a visitor's form to another client process when the first died
    with it; both carry the same X-Request-ID to the API, which then creates nothing twice."""
    create = api.post("/api/tickets").respond(201, json=ticket_factory(price=10))
    token = await form_token("/tickets/new")

    await client.post(
        "/tickets/new",
        data={"title": "Jazz night", "price": "10", "csrf_token": token},
        headers={"X-Request-ID": "5d1e0c7b9a2f4e3d"},
    )

    assert create.calls.last.request.headers["X-Request-ID"] == "5d1e0c7b9a2f4e3d"
