import asyncio
import time
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from jose import jwt

from common.money import PRICE_RULE
from common.session import issue_token
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import outbox_of
from tickets.models import Ticket

Auth = Callable[..., dict[str, str]]


async def test_route_exists(client: AsyncClient) -> None:
    response = await client.post("/api/tickets", json={})
    assert response.status_code != 404


async def test_requires_sign_in(client: AsyncClient) -> None:
    response = await client.post("/api/tickets", json={"title": "concert", "price": 10})
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}
    assert await Ticket.count() == 0


@pytest.mark.parametrize("session", ["expired", "without-expiry"])
async def test_an_expired_or_endless_session_is_not_signed_in(
    client: AsyncClient, jwt_key: str, session: str
) -> None:
    now = int(time.time())
    token = (
        issue_token("u1", "a@b.com", jwt_key, 60, issued_at=now - 120)
        if session == "expired"
        else jwt.encode({"id": "u1", "email": "a@b.com", "iat": now}, jwt_key, algorithm="HS256")
    )
    response = await client.post(
        "/api/tickets",
        json={"title": "concert", "price": 10},
        headers={"Cookie": f"session={token}"},
    )
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}
    assert await Ticket.count() == 0


async def test_signed_in_is_not_rejected_as_unauthorised(client: AsyncClient, auth: Auth) -> None:
    response = await client.post("/api/tickets", json={}, headers=auth())
    assert response.status_code != 401


@pytest.mark.parametrize(
    "body",
    [
        {"title": "", "price": 10},
        {"price": 10},
        {"title": "   ", "price": 10},
        {"title": 5, "price": 10},
    ],
)
async def test_invalid_title(client: AsyncClient, auth: Auth, body: dict[str, object]) -> None:
    response = await client.post("/api/tickets", json=body, headers=auth())
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Title is required", "field": "title"}]}


@pytest.mark.parametrize(
    "price",
    [
        -10,
        0,
        "abc",
        None,
        True,
        "nan",
        "Infinity",
        [1],
        {"$gt": 0},
        0.001,  # was stored and charged as 0 cents: a free ticket
        0.49,  # below Stripe's smallest charge
        10.005,
        "12.345",
        1e30,  # was charged as 10**32 cents
        1e308,  # made POST /api/payments a 500
        10**400,
        1_000_000.01,
    ],
)
async def test_invalid_price(client: AsyncClient, auth: Auth, price: object) -> None:
    response = await client.post(
        "/api/tickets", json={"title": "concert", "price": price}, headers=auth()
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": PRICE_RULE, "field": "price"}]}
    assert await Ticket.find_all().count() == 0


@pytest.mark.parametrize(
    ("price", "cents", "shown"),
    [
        (0.5, 50, 0.5),
        (19.99, 1999, 19.99),
        ("19.99", 1999, 19.99),
        (" 7.5 ", 750, 7.5),
        (20, 2000, 20),
        ("20.00", 2000, 20),
        (1_000_000, 100_000_000, 1_000_000),
    ],
)
async def test_prices_are_exact_cents(
    client: AsyncClient,
    auth: Auth,
    publisher: RecordingPublisher,
    price: object,
    cents: int,
    shown: float,
) -> None:
    response = await client.post(
        "/api/tickets", json={"title": "concert", "price": price}, headers=auth()
    )
    assert response.status_code == 201, response.text
    assert response.json()["price"] == shown
    stored = await Ticket.get(response.json()["id"])
    assert stored is not None
    assert stored.price_cents == cents
    (event,) = publisher.of("ticket:created")
    assert event["price"] == shown


async def test_missing_price_and_title_name_both_fields(client: AsyncClient, auth: Auth) -> None:
    response = await client.post("/api/tickets", json={}, headers=auth())
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"title", "price"}


async def test_body_that_is_not_json_is_400(client: AsyncClient, auth: Auth) -> None:
    response = await client.post(
        "/api/tickets",
        content=b"{not json",
        headers={**auth(), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "errors" in response.json()


async def test_creates_a_ticket(client: AsyncClient, auth: Auth) -> None:
    user_id = "a1b2c3d4e5f6a1b2c3d4e5f6"
    response = await client.post(
        "/api/tickets", json={"title": " concert ", "price": 20}, headers=auth(user_id)
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "title": "concert",
        "price": 20,
        "userId": user_id,
        "version": 0,
        "orderId": None,
    }
    stored = await Ticket.find_all().to_list()
    assert len(stored) == 1
    assert str(stored[0].id) == body["id"]
    assert (stored[0].title, stored[0].price_cents, stored[0].user_id) == ("concert", 2000, user_id)
    assert stored[0].version == 0


async def test_publishes_ticket_created(
    app: FastAPI, client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    user_id = "a1b2c3d4e5f6a1b2c3d4e5f6"
    body = (
        await client.post(
            "/api/tickets", json={"title": "concert", "price": 20.5}, headers=auth(user_id)
        )
    ).json()
    assert publisher.subjects() == ["ticket:created"]
    assert publisher.of("ticket:created") == [
        {"id": body["id"], "version": 0, "title": "concert", "price": 20.5, "userId": user_id}
    ]
    await outbox_of(app).clear_published()  # published events are cleared in batches
    stored = await Ticket.get(body["id"])
    assert stored is not None
    assert stored.outbox == []


async def test_ticket_is_created_while_nats_is_down_and_published_later(
    app: FastAPI, client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    publisher.fail = True
    response = await client.post(
        "/api/tickets", json={"title": "concert", "price": 20}, headers=auth()
    )
    assert response.status_code == 201
    assert publisher.published == []
    stored = await Ticket.get(response.json()["id"])
    assert stored is not None
    assert [e.subject for e in stored.outbox] == ["ticket:created"]

    publisher.fail = False
    assert await outbox_of(app).drain_once(grace=0) == 1
    assert publisher.of("ticket:created")[0]["id"] == response.json()["id"]
    assert publisher.published[0].msg_id == stored.outbox[0].id
    assert await outbox_of(app).drain_once(grace=0) == 0  # nothing left: published exactly once


async def test_the_same_request_sent_again_creates_the_ticket_once(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    """The ingress sends a POST again, with its X-Request-ID, when the replica that had it
    died: the repeat answers with the ticket the first attempt made."""
    headers = {**auth("5f0c2a1b2c3d4e5f60001234"), "X-Request-ID": "4f1c9e0d2b7a4c1e"}
    body = {"title": "concert", "price": 10}

    first = await client.post("/api/tickets", json=body, headers=headers)
    again = await client.post("/api/tickets", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await Ticket.count() == 1
    assert publisher.subjects() == ["ticket:created"]


async def test_the_same_request_sent_again_at_once_creates_the_ticket_once(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    """Repeats that arrive together (no look-up can see the other's ticket yet) make one
    ticket: the unique request id decides, and every repeat answers with it."""
    headers = {**auth("5f0c2a1b2c3d4e5f60001234"), "X-Request-ID": "0d2b7a4c1e4f1c9e"}
    body = {"title": "concert", "price": 10}

    answers = await asyncio.gather(
        *[client.post("/api/tickets", json=body, headers=headers) for _ in range(8)]
    )

    assert [answer.status_code for answer in answers] == [201] * 8
    assert len({answer.json()["id"] for answer in answers}) == 1
    assert await Ticket.count() == 1
    assert publisher.subjects() == ["ticket:created"]


@pytest.mark.parametrize("request_id", [None, "", "short", "x" * 200, "bad id with spaces"])
async def test_without_a_usable_request_id_every_post_creates_a_ticket(
    client: AsyncClient, auth: Auth, request_id: str | None
) -> None:
    headers = auth("5f0c2a1b2c3d4e5f60001234")
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    for _ in range(2):
        response = await client.post(
            "/api/tickets", json={"title": "concert", "price": 10}, headers=headers
        )
        assert response.status_code == 201
    assert await Ticket.count() == 2


async def test_a_request_id_finds_only_what_its_own_user_created(
    client: AsyncClient, auth: Auth
) -> None:
    body = {"title": "concert", "price": 10}
    request_id = {"X-Request-ID": "4f1c9e0d2b7a4c1e"}
    mine = await client.post(
        "/api/tickets", json=body, headers={**auth("5f0c2a1b2c3d4e5f60001234"), **request_id}
    )
    theirs = await client.post(
        "/api/tickets", json=body, headers={**auth("5f0c2a1b2c3d4e5f60009999"), **request_id}
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["userId"] == "5f0c2a1b2c3d4e5f60009999"
