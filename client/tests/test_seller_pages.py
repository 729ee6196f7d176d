"""`/my-tickets` (the seller's tickets with their state) and `/tickets/{id}/edit`."""

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx

from client.display import seller_ticket_view
from testsupport.doubles import refusal

from .conftest import USER, make_ticket

Submit = Callable[..., Awaitable[httpx.Response]]
TICKET_ID = "6560f0c2a1b2c3d4e5f60001"
EDIT_PAGE = f"/tickets/{TICKET_ID}/edit"


def mine(state: str, **fields: Any) -> dict[str, Any]:
    return make_ticket(
        userId=USER["id"], state=state, **{"reservedUntil": None, "soldAt": None, **fields}
    )


def field_error(html: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else ""


async def test_my_tickets_needs_a_signed_in_visitor(client: httpx.AsyncClient) -> None:
    response = await client.get("/my-tickets")
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/signin?next=/my-tickets"


@pytest.mark.usefixtures("signed_in")
async def test_my_tickets_shows_each_state_with_links(
    client: httpx.AsyncClient, api: respx.MockRouter, session_token: str
) -> None:
    listing = api.get("/api/tickets/mine").respond(
        200,
        json=[
            mine("sold", id="a" * 24, title="Cup final", soldAt="2026-12-01T18:30:00Z"),
            mine(
                "reserved",
                id="b" * 24,
                title="Opera",
                orderId="c" * 24,
                reservedUntil="2026-12-03T14:05:09.123000Z",
            ),
            mine("for-sale", id="d" * 24, title="Jazz night", price=20),
        ],
    )

    response = await client.get("/my-tickets")

    assert response.status_code == 200
    assert listing.calls.last.request.headers["cookie"] == f"session={session_token}"
    html = response.text
    rows = re.findall(r'<li class="order-row seller-row seller-row-([a-z-]+)"', html)
    assert rows == ["sold", "reserved", "for-sale"]
    assert ">Sold</span>" in html
    assert 'on <time datetime="2026-12-01T18:30:00+00:00">1 Dec 2026, 18:30 UTC</time>' in html
    assert ">Reserved</span>" in html
    assert "until <time" in html
    assert "3 Dec 2026, 14:05 UTC" in html
    assert ">For sale</span>" in html
    assert "$20.00" in html
    assert f'href="/tickets/{"d" * 24}/edit"' in html, "a ticket for sale can be edited"
    assert f'href="/tickets/{"b" * 24}/edit"' not in html, "a reserved one cannot"
    assert f'href="/tickets/{"a" * 24}/edit"' not in html, "nor a sold one"
    assert f'href="/tickets/{"a" * 24}"' in html
    assert 'href="/my-tickets" aria-current="page"' in html


@pytest.mark.usefixtures("signed_in")
async def test_my_tickets_when_there_are_none(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get("/api/tickets/mine").respond(200, json=[])
    html = (await client.get("/my-tickets")).text
    assert "You are not selling any tickets" in html


def test_a_ticket_from_an_api_without_states_is_judged_by_its_holder() -> None:
    assert seller_ticket_view(make_ticket(orderId="c" * 24)).state == "reserved"
    assert seller_ticket_view(make_ticket()).state == "for-sale"


async def test_edit_page_needs_a_signed_in_visitor(client: httpx.AsyncClient) -> None:
    response = await client.get(EDIT_PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == f"/auth/signin?next={EDIT_PAGE}"


@pytest.mark.usefixtures("signed_in")
async def test_edit_page_is_the_form_filled_in(
    client: httpx.AsyncClient, api_has_ticket: Callable[..., respx.Route]
) -> None:
    api_has_ticket(userId=USER["id"], title="Jazz night", price=20)
    response = await client.get(EDIT_PAGE)
    assert response.status_code == 200
    html = response.text
    assert f'action="{EDIT_PAGE}"' in html
    assert 'name="title" type="text" value="Jazz night"' in html
    assert 'name="price" type="text" value="20.00"' in html
    assert 'name="csrf_token"' in html


@pytest.mark.usefixtures("signed_in")
async def test_edit_page_is_refused_to_anyone_but_the_seller(
    client: httpx.AsyncClient, api_has_ticket: Callable[..., respx.Route]
) -> None:
    api_has_ticket(userId="f" * 24)
    response = await client.get(EDIT_PAGE)
    assert response.status_code == 403
    assert "Not your ticket" in response.text
    assert f'action="{EDIT_PAGE}"' not in response.text


@pytest.mark.usefixtures("signed_in")
async def test_edit_page_of_a_missing_ticket_is_404(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    api.get(f"/api/tickets/{TICKET_ID}").respond(404, json=refusal("Not Found"))
    assert (await client.get(EDIT_PAGE)).status_code == 404
    assert (await client.get("/tickets/not$an$id/edit")).status_code == 404


@pytest.mark.usefixtures("signed_in")
async def test_edit_page_of_a_reserved_ticket_says_it_cannot_be_edited(
    client: httpx.AsyncClient, api_has_ticket: Callable[..., respx.Route]
) -> None:
    api_has_ticket(userId=USER["id"], orderId="c" * 24)
    html = (await client.get(EDIT_PAGE)).text
    assert "This ticket can't be edited: a buyer has reserved or bought it." in html
    assert f'action="{EDIT_PAGE}"' not in html


@pytest.mark.usefixtures("signed_in")
async def test_editing_sends_the_change_and_goes_to_my_tickets(
    api: respx.MockRouter,
    api_has_ticket: Callable[..., respx.Route],
    submit: Submit,
    session_token: str,
) -> None:
    api_has_ticket(userId=USER["id"])
    update = api.put(f"/api/tickets/{TICKET_ID}").respond(200, json=make_ticket(title="Blues"))

    response = await submit(EDIT_PAGE, title="  Blues night ", price="$1,234.567")

    assert response.status_code == 303
    assert response.headers["location"] == "/my-tickets"
    assert json.loads(update.calls.last.request.content) == {
        "title": "Blues night",
        "price": "1234.57",
    }
    assert update.calls.last.request.headers["cookie"] == f"session={session_token}"


@pytest.mark.usefixtures("signed_in")
async def test_api_errors_are_shown_next_to_their_fields(
    api: respx.MockRouter, api_has_ticket: Callable[..., respx.Route], submit: Submit
) -> None:
    api_has_ticket(userId=USER["id"])
    api.put(f"/api/tickets/{TICKET_ID}").respond(
        400, json=refusal("Title must not contain control characters", "title")
    )

    response = await submit(EDIT_PAGE, title="odd", price="5")

    assert response.status_code == 400
    assert field_error(response.text, "title") == "Title must not contain control characters"
    assert 'name="title" type="text" value="odd"' in response.text
    assert 'name="price" type="text" value="5.00"' in response.text


@pytest.mark.usefixtures("signed_in")
async def test_bad_price_is_caught_before_the_api(
    api: respx.MockRouter, api_has_ticket: Callable[..., respx.Route], submit: Submit
) -> None:
    api_has_ticket(userId=USER["id"])
    update = api.put(f"/api/tickets/{TICKET_ID}")
    response = await submit(EDIT_PAGE, title="Jazz", price="free")
    assert response.status_code == 400
    assert field_error(response.text, "price") == "Price must be a number, like 25 or 19.99"
    assert not update.called


@pytest.mark.usefixtures("signed_in")
async def test_a_ticket_reserved_meanwhile_is_refused_clearly(
    api: respx.MockRouter, submit: Submit
) -> None:
    """The form was opened while the ticket was free; a buyer reserved it before Save."""
    shown = api.get(f"/api/tickets/{TICKET_ID}")
    shown.side_effect = [
        httpx.Response(200, json=make_ticket(userId=USER["id"])),
        httpx.Response(200, json=make_ticket(userId=USER["id"], orderId="c" * 24)),
    ]
    api.put(f"/api/tickets/{TICKET_ID}").respond(400, json=refusal("Cannot edit a reserved ticket"))

    response = await submit(EDIT_PAGE, title="Jazz", price="5")

    assert response.status_code == 400
    assert "Cannot edit a reserved ticket" in response.text
    assert "This ticket can't be edited" in response.text


async def test_editing_needs_the_csrf_token(client: httpx.AsyncClient) -> None:
    response = await client.post(EDIT_PAGE, data={"title": "x", "price": "5"})
    assert response.status_code == 403
