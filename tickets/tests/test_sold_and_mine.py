"""What became of a seller's tickets: order:completed sells a ticket, order:created tells until
when it is reserved, and `GET /api/tickets/mine` shows each of the seller's tickets with its
state."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

from testsupport.doubles import RecordingPublisher
from testsupport.events import order_cancelled, order_completed, order_created
from testsupport.plugin import Deliver, stored
from tickets.events.listeners import (
    OrderCancelledListener,
    OrderCompletedListener,
    OrderCreatedListener,
)
from tickets.models import Ticket

Auth = Callable[..., dict[str, str]]
SELLER = "0123456789abcdef01234567"
ORDER_A = str(PydanticObjectId())
ORDER_B = str(PydanticObjectId())
UNTIL = datetime(2031, 5, 4, 20, 15, 30, 123000, tzinfo=UTC)


async def sell(client: AsyncClient, auth: Auth, title: str, user_id: str = SELLER) -> str:
    response = await client.post(
        "/api/tickets", json={"title": title, "price": 20}, headers=auth(user_id)
    )
    assert response.status_code == 201
    return str(response.json()["id"])


async def reserve(deliver: Deliver, ticket_id: str, order_id: str) -> None:
    event = order_created(order_id=order_id, ticket_id=ticket_id, expires_at=UNTIL)
    assert (await deliver(event, to=OrderCreatedListener)).acked


async def complete(deliver: Deliver, ticket_id: str, order_id: str) -> None:
    event = order_completed(order_id, ticket_id=ticket_id)
    assert (await deliver(event, to=OrderCompletedListener)).acked


async def mine(client: AsyncClient, auth: Auth, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/tickets/mine", params=params, headers=auth(SELLER))
    assert response.status_code == 200
    return list(response.json())


async def test_order_completed_sells_the_ticket_and_publishes_its_next_version(
    client: AsyncClient, auth: Auth, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    ticket_id = await sell(client, auth, "concert")
    await reserve(deliver, ticket_id, ORDER_A)
    await complete(deliver, ticket_id, ORDER_A)

    sold = await stored(Ticket, ticket_id)
    assert (sold.sold_to, sold.order_id, sold.version) == (ORDER_A, ORDER_A, 2)
    assert sold.sold_at is not None
    updates = publisher.of("ticket:updated")
    assert [(u["version"], u["orderId"]) for u in updates] == [(1, ORDER_A), (2, ORDER_A)]


async def test_repeated_order_completed_changes_nothing(
    client: AsyncClient, auth: Auth, deliver: Deliver, publisher: RecordingPublisher
) -> None:
    ticket_id = await sell(client, auth, "concert")
    await reserve(deliver, ticket_id, ORDER_A)
    await complete(deliver, ticket_id, ORDER_A)
    await complete(deliver, ticket_id, ORDER_A)
    assert (await stored(Ticket, ticket_id)).version == 2
    assert len(publisher.of("ticket:updated")) == 2


async def test_a_sold_ticket_stays_held_whatever_late_events_say(
    client: AsyncClient, auth: Auth, deliver: Deliver
) -> None:
    """B's completion arrives before B's order:created, and A's events come late."""
    ticket_id = await sell(client, auth, "concert")
    await complete(deliver, ticket_id, ORDER_B)
    await reserve(deliver, ticket_id, ORDER_B)
    await reserve(deliver, ticket_id, ORDER_A)
    await deliver(order_cancelled(ORDER_A, ticket_id=ticket_id), to=OrderCancelledListener)

    ticket = await stored(Ticket, ticket_id)
    assert (ticket.order_id, ticket.sold_to) == (ORDER_B, ORDER_B)
    listed = await client.get("/api/tickets")
    assert listed.json() == []


async def test_a_sold_ticket_cannot_be_edited(
    client: AsyncClient, auth: Auth, deliver: Deliver
) -> None:
    ticket_id = await sell(client, auth, "concert")
    await reserve(deliver, ticket_id, ORDER_A)
    await complete(deliver, ticket_id, ORDER_A)
    response = await client.put(
        f"/api/tickets/{ticket_id}", json={"title": "x", "price": 5}, headers=auth(SELLER)
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Cannot edit a sold ticket"}]}
    assert (await stored(Ticket, ticket_id)).title == "concert"


async def test_mine_shows_each_state_newest_first(
    client: AsyncClient, auth: Auth, deliver: Deliver
) -> None:
    for_sale = await sell(client, auth, "for sale")
    reserved = await sell(client, auth, "reserved")
    sold = await sell(client, auth, "sold")
    await sell(client, auth, "someone else's", user_id=str(PydanticObjectId()))
    await reserve(deliver, reserved, ORDER_A)
    await reserve(deliver, sold, ORDER_B)
    await complete(deliver, sold, ORDER_B)

    tickets = await mine(client, auth)

    assert [t["id"] for t in tickets] == [sold, reserved, for_sale]
    by_title = {t["title"]: t for t in tickets}
    assert by_title["for sale"]["state"] == "for-sale"
    assert by_title["for sale"]["reservedUntil"] is None
    assert by_title["for sale"]["orderId"] is None
    assert by_title["reserved"]["state"] == "reserved"
    assert by_title["reserved"]["orderId"] == ORDER_A
    reserved_until = datetime.fromisoformat(by_title["reserved"]["reservedUntil"])
    assert reserved_until == UNTIL
    assert by_title["sold"]["state"] == "sold"
    assert by_title["sold"]["reservedUntil"] is None
    sold_at = datetime.fromisoformat(by_title["sold"]["soldAt"])
    assert abs(sold_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert set(tickets[0]) == {
        "id", "title", "price", "userId", "version", "orderId", "state", "reservedUntil", "soldAt"
    }  # fmt: skip


async def test_mine_after_a_cancellation_is_for_sale_again(
    client: AsyncClient, auth: Auth, deliver: Deliver
) -> None:
    ticket_id = await sell(client, auth, "concert")
    await reserve(deliver, ticket_id, ORDER_A)
    await deliver(order_cancelled(ORDER_A, ticket_id=ticket_id), to=OrderCancelledListener)
    [ticket] = await mine(client, auth)
    assert (ticket["state"], ticket["reservedUntil"], ticket["orderId"]) == ("for-sale", None, None)
    assert (await stored(Ticket, ticket_id)).hold_expiries == {}


async def test_mine_pages(client: AsyncClient, auth: Auth) -> None:
    ids = [await sell(client, auth, f"ticket {n}") for n in range(5)]
    first = await mine(client, auth, limit=2)
    second = await mine(client, auth, limit=2, after=first[-1]["id"])
    assert [t["id"] for t in first + second] == ids[::-1][:4]


async def test_mine_needs_a_session(client: AsyncClient) -> None:
    response = await client.get("/api/tickets/mine")
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}


async def test_mine_refuses_bad_paging_in_the_error_shape(client: AsyncClient, auth: Auth) -> None:
    response = await client.get(
        "/api/tickets/mine", params={"limit": "x", "after": "nope"}, headers=auth(SELLER)
    )
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"limit", "after"}
