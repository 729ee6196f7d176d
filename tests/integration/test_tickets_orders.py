"""tickets and orders as processes, talking only through NATS JetStream."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from testsupport.servers import NatsServer, ServiceProcess, eventually
from testsupport.steps import reserve, sell

pytestmark = pytest.mark.integration

Headers = Callable[..., dict[str, str]]
SELLER = "5e11e75e11e75e11e75e11e7"
BUYER = "b0b0b0b0b0b0b0b0b0b0b0b0"


@pytest.fixture
def tickets_service(start_service: Callable[..., ServiceProcess]) -> ServiceProcess:
    return start_service("tickets")


@pytest.fixture
def tickets(tickets_service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tickets_service.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def orders(start_service: Callable[..., ServiceProcess]) -> Iterator[httpx.Client]:
    service = start_service("orders")
    with httpx.Client(base_url=service.base_url, timeout=10) as client:
        yield client


def ticket_state(tickets: httpx.Client, ticket_id: str) -> dict[str, Any]:
    response = tickets.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200
    return dict(response.json())


def listed(tickets: httpx.Client) -> set[str]:
    return {ticket["id"] for ticket in tickets.get("/api/tickets").json()}


def test_reserve_locks_and_cancel_unlocks_the_ticket_across_services(
    tickets: httpx.Client, orders: httpx.Client, auth: Headers
) -> None:
    seller, buyer = auth(SELLER), auth(BUYER)
    ticket_id = sell(tickets, seller, 20, title="concert")

    # A ticket created in tickets becomes orderable in orders, under the same id.
    order = reserve(orders, buyer, ticket_id)
    assert order["ticket"] == {"id": ticket_id, "title": "concert", "price": 20, "version": 0}
    assert order["status"] == "created"

    # The reservation locks the ticket in tickets (order:created).
    eventually(lambda: ticket_state(tickets, ticket_id)["orderId"] == order["id"])
    assert ticket_state(tickets, ticket_id)["version"] == 1
    assert ticket_id not in listed(tickets)
    edit = tickets.put(f"/api/tickets/{ticket_id}", json={"title": "x", "price": 1}, headers=seller)
    assert edit.status_code == 400
    # ... and the lock's ticket:updated reaches the replica in orders.
    eventually(
        lambda: (
            orders.get(f"/api/orders/{order['id']}", headers=buyer).json()["ticket"]["version"] == 1
        )
    )
    second = orders.post("/api/orders", json={"ticketId": ticket_id}, headers=auth())
    assert second.status_code == 400

    # The cancellation unlocks it (order:cancelled).
    assert orders.delete(f"/api/orders/{order['id']}", headers=buyer).status_code == 204
    eventually(lambda: ticket_state(tickets, ticket_id)["orderId"] is None)
    assert ticket_id in listed(tickets)
    edit = tickets.put(
        f"/api/tickets/{ticket_id}", json={"title": "concert!", "price": 25}, headers=seller
    )
    assert edit.status_code == 200
    assert edit.json()["version"] == 3

    # The replica follows, and the ticket can be reserved again.
    eventually(lambda: replica_matches(tickets, orders, buyer, order["id"]))
    again = orders.post("/api/orders", json={"ticketId": ticket_id}, headers=auth())
    assert again.status_code == 201, again.text
    assert again.json()["ticket"] == {
        "id": ticket_id,
        "title": "concert!",
        "price": 25,
        "version": 3,
    }
    eventually(lambda: ticket_state(tickets, ticket_id)["orderId"] == again.json()["id"])


def replica_matches(
    tickets: httpx.Client, orders: httpx.Client, headers: dict[str, str], order_id: str
) -> bool:
    """The order's ticket, as the orders replica holds it, equals the ticket in tickets."""
    replica = orders.get(f"/api/orders/{order_id}", headers=headers).json()["ticket"]
    owner = ticket_state(tickets, replica["id"])
    return bool(replica == {k: owner[k] for k in ("id", "title", "price", "version")})


def test_with_nats_down_changes_are_stored_and_replicated_once_it_returns(
    nats_server: NatsServer,
    tickets_service: ServiceProcess,
    tickets: httpx.Client,
    orders: httpx.Client,
    auth: Headers,
) -> None:
    seller, buyer = auth(SELLER), auth(BUYER)
    held = sell(tickets, seller, 30, title="held")
    first_order = reserve(orders, buyer, held)
    eventually(lambda: ticket_state(tickets, held)["orderId"] == first_order["id"])

    nats_server.stop()

    # Both services keep answering and storing changes while NATS is away.
    fresh = sell(tickets, seller, 40, title="fresh")
    for n, price in enumerate((41, 42), start=1):
        response = tickets.put(
            f"/api/tickets/{fresh}", json={"title": f"fresh v{n}", "price": price}, headers=seller
        )
        assert response.status_code == 200, response.text
    cancel = orders.delete(f"/api/orders/{first_order['id']}", headers=buyer)
    assert cancel.status_code == 204

    # tickets dies before it could publish any of it; its events are still in its database.
    tickets_service.kill()
    nats_server.start()
    tickets_service.start()

    # Every event stored meanwhile is published once NATS is back (by orders' relay on
    # reconnecting, by tickets' relay on restarting): the cancellation made during the
    # outage unlocks the held ticket, the new ticket and its updates reach the replica, and
    # the replica converges to the tickets' state.
    eventually(lambda: ticket_state(tickets, held)["orderId"] is None, timeout=30)
    assert ticket_state(tickets, held)["version"] == 2
    eventually(lambda: replica_matches(tickets, orders, buyer, first_order["id"]), timeout=20)

    second_order = reserve(orders, buyer, fresh)
    eventually(lambda: ticket_state(tickets, fresh)["orderId"] == second_order["id"], timeout=20)
    eventually(lambda: replica_matches(tickets, orders, buyer, second_order["id"]), timeout=20)
    assert ticket_state(tickets, fresh)["title"] == "fresh v2"
    assert ticket_state(tickets, fresh)["version"] == 3  # created, two updates, the lock
