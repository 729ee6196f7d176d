from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import AsyncClient

from common.events.subjects import OrderStatus
from common.service import ServiceSpec
from orders.models import Order, Ticket
from orders.settings import OrdersSettings
from testsupport.apps import serving
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import outbox_of

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]
BUYER = "0123456789abcdef01234567"


async def existing_order(ticket: Ticket, status: OrderStatus) -> Order:
    order = Order.reserve(ticket, "someone-else", datetime.now(UTC))
    order.id = PydanticObjectId()
    if status == OrderStatus.CANCELLED:
        order.cancel()
    else:
        order.status = status
    return await order.insert()


async def test_401_when_signed_out(client: AsyncClient, make_ticket: MakeTicket) -> None:
    ticket = await make_ticket()
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)})
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}


@pytest.mark.parametrize("body", [{}, {"ticketId": ""}, {"ticketId": "abc"}, {"ticketId": 12}])
async def test_400_when_ticket_id_is_not_a_valid_id(
    client: AsyncClient, auth: Auth, body: dict[str, Any]
) -> None:
    response = await client.post("/api/orders", json=body, headers=auth())
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "TicketId must be a valid id", "field": "ticketId"}]
    }


async def test_404_when_the_ticket_does_not_exist(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    response = await client.post(
        "/api/orders", json={"ticketId": str(PydanticObjectId())}, headers=auth()
    )
    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Not Found"}]}
    assert publisher.published == []


@pytest.mark.parametrize(
    "status", [OrderStatus.CREATED, OrderStatus.AWAITING_PAYMENT, OrderStatus.COMPLETE]
)
async def test_400_when_the_ticket_is_already_reserved(
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
    status: OrderStatus,
) -> None:
    ticket = await make_ticket()
    await existing_order(ticket, status)
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert await Order.count() == 1
    assert publisher.published == []


async def test_a_cancelled_order_does_not_reserve_the_ticket(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    await existing_order(ticket, OrderStatus.CANCELLED)
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 201


async def test_reserves_a_ticket(client: AsyncClient, auth: Auth, make_ticket: MakeTicket) -> None:
    ticket = await make_ticket(title="concert", price=20, version=3)
    before = datetime.now(UTC)
    response = await client.post(
        "/api/orders", json={"ticketId": str(ticket.id)}, headers=auth(BUYER)
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "userId": BUYER,
        "status": "created",
        "expiresAt": body["expiresAt"],
        "version": 0,
        "ticket": {"id": str(ticket.id), "title": "concert", "price": 20, "version": 3},
    }
    assert body["expiresAt"].endswith("Z")
    expires = datetime.fromisoformat(body["expiresAt"])
    assert before + timedelta(seconds=899) < expires < datetime.now(UTC) + timedelta(seconds=901)

    stored = await Order.get(body["id"])
    assert stored is not None
    assert (stored.user_id, stored.status, stored.ticket_id) == (BUYER, "created", str(ticket.id))
    assert stored.expires_at == expires


async def test_expiry_follows_the_configured_window(
    service: ServiceSpec[Any, Any],
    settings: OrdersSettings,
    publisher: RecordingPublisher,
    auth: Auth,
) -> None:
    a_minute = settings.model_copy(update={"EXPIRATION_WINDOW_SECONDS": 60})
    async with serving(service.create_app(a_minute, publisher=publisher)) as client:
        ticket = await Ticket(title="t", price_cents=500, version=0).insert()
        response = await client.post(
            "/api/orders", json={"ticketId": str(ticket.id)}, headers=auth()
        )
    expires = datetime.fromisoformat(response.json()["expiresAt"])
    assert timedelta(seconds=58) < expires - datetime.now(UTC) <= timedelta(seconds=60)


async def test_publishes_order_created(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, publisher: RecordingPublisher
) -> None:
    ticket = await make_ticket(price=20.5)
    body = (
        await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth(BUYER))
    ).json()
    assert publisher.subjects() == ["order:created"]
    event = publisher.of("order:created")[0]
    assert event == {
        "id": body["id"],
        "version": 0,
        "status": "created",
        "userId": BUYER,
        "expiresAt": event["expiresAt"],
        "ticket": {"id": str(ticket.id), "price": 20.5},
    }
    assert datetime.fromisoformat(event["expiresAt"]) == datetime.fromisoformat(body["expiresAt"])


async def test_order_is_created_while_nats_is_down_and_published_later(
    app: FastAPI,
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
) -> None:
    ticket = await make_ticket()
    publisher.fail = True
    response = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert response.status_code == 201
    stored = await Order.get(response.json()["id"])
    assert stored is not None
    assert [event.subject for event in stored.outbox] == ["order:created"]

    publisher.fail = False
    assert await outbox_of(app).drain_once(grace=0) == 1
    assert publisher.of("order:created")[0]["id"] == response.json()["id"]
    assert await outbox_of(app).drain_once(grace=0) == 0


async def test_the_same_request_sent_again_answers_with_the_order_it_made(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, publisher: RecordingPublisher
) -> None:
    """The ingress sends a POST again, with its X-Request-ID, when the replica that had it
    died: the repeat is the buyer's own order, not `Ticket is already reserved`."""
    ticket = await make_ticket()
    headers = {**auth(BUYER), "X-Request-ID": "9e2d7c1a0b3f4e5d"}
    body = {"ticketId": str(ticket.id)}

    first = await client.post("/api/orders", json=body, headers=headers)
    again = await client.post("/api/orders", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert await Order.count() == 1
    assert publisher.subjects() == ["order:created"]


@pytest.mark.parametrize(
    ("buyer", "request_id"),
    [
        ("0123456789abcdef09999999", "9e2d7c1a0b3f4e5d"),  # someone else, the same id
        (BUYER, "0a1b2c3d4e5f6a7b"),  # the same buyer, another request
        (BUYER, None),  # the same buyer, no request id
    ],
)
async def test_another_request_for_a_reserved_ticket_is_still_refused(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket, buyer: str, request_id: str | None
) -> None:
    ticket = await make_ticket()
    body = {"ticketId": str(ticket.id)}
    first = await client.post(
        "/api/orders", json=body, headers={**auth(BUYER), "X-Request-ID": "9e2d7c1a0b3f4e5d"}
    )
    assert first.status_code == 201

    headers = auth(buyer)
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    response = await client.post("/api/orders", json=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    assert await Order.count() == 1
