"""Faults while people keep using the platform: a service dies, NATS goes away.

Nothing written through the API may be lost: each replica (orders' tickets, payments'
orders) ends up with every change, once the fault is over.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from devstack.platform import Platform
from devstack.testing import Visitor
from testsupport.servers import eventually

pytestmark = pytest.mark.integration

NewUser = Callable[[], Visitor]
CATCH_UP = 45.0
"""Seconds a restarted consumer may need (an event it fetched but never acked is redelivered
after JetStream's ack wait, 30 s)."""


class Seller(threading.Thread):
    """Keeps selling (and, if asked, renaming) tickets until stopped; records every answer."""

    def __init__(self, visitor: Visitor, update: bool = False) -> None:
        super().__init__(daemon=True)
        self.visitor = visitor
        self.update = update
        self.tickets: dict[str, dict[str, Any]] = {}
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            title = f"Show {uuid.uuid4().hex[:6]}"
            response = self.visitor.post("/api/tickets", json={"title": title, "price": 10})
            if response.status_code != 201:
                self.failures.append(f"POST {response.status_code} {response.text}")
                continue
            ticket = response.json()
            if self.update:
                body = {"title": f"{title} (moved)", "price": 11.5}
                response = self.visitor.put(f"/api/tickets/{ticket['id']}", json=body)
                if response.status_code != 200:
                    self.failures.append(f"PUT {response.status_code} {response.text}")
                    continue
                ticket = response.json()
            self.tickets[ticket["id"]] = ticket
            time.sleep(0.1)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        eventually(lambda: len(self.tickets) >= count, timeout)

    def finish(self) -> dict[str, dict[str, Any]]:
        self.done.set()
        self.join(timeout=30)
        assert not self.failures, self.failures
        return dict(self.tickets)


@pytest.fixture
def recovered(platform: Platform) -> Iterator[Platform]:
    """Whatever a test stops is running again afterwards, for the tests that follow."""
    yield platform
    if not platform.nats.running:
        platform.nats.start()
    for service in platform.services.values():
        if not service.running:
            service.start()
    platform.wait_services_ready()


def order_matching(buyer: Visitor, ticket: dict[str, Any]) -> dict[str, Any]:
    """Order the ticket and check that orders' copy of it is the latest one. If the copy is
    still behind, cancel and try again: the replica converges or the test times out."""
    result: dict[str, Any] = {}

    def attempt() -> bool:
        response = buyer.order(ticket["id"], timeout=1)
        assert response.status_code == 201, f"{ticket['id']}: {response.text}"
        order = response.json()
        copy = order["ticket"]
        if (copy["title"], copy["price"]) != (ticket["title"], ticket["price"]):
            buyer.delete(f"/api/orders/{order['id']}")
            raise AssertionError(f"orders has {copy}, tickets has {ticket}")
        result.update(order)
        return True

    eventually(attempt, CATCH_UP, interval=0.5)
    return result


def test_orders_killed_while_tickets_are_sold_catches_up(
    recovered: Platform, user: NewUser
) -> None:
    seller = Seller(user())
    seller.start()
    seller.wait_for(3)
    orders = recovered.service("orders")
    orders.kill()
    sold_while_down = len(seller.tickets)
    seller.wait_for(sold_while_down + 5)
    orders.start()
    seller.wait_for(len(seller.tickets) + 3)
    tickets = seller.finish()

    buyer = user()
    for ticket in tickets.values():
        order = order_matching(buyer, ticket)
        assert order["status"] == "created"


def test_nats_stopped_while_tickets_change_nothing_is_lost(
    recovered: Platform, user: NewUser
) -> None:
    seller, buyer = user(), user()
    known = seller.create_ticket("Bought while NATS is away", 42)
    # Once orders takes an order for a later ticket, it has the first one too.
    marker = seller.create_ticket("Marker", 1)
    assert buyer.order(marker["id"]).status_code == 201

    writer = Seller(user(), update=True)
    writer.start()
    writer.wait_for(2)
    recovered.nats.stop()
    writer.wait_for(len(writer.tickets) + 4)

    # Orders takes an order while NATS is away (the ticket is in its replica already).
    response = buyer.post("/api/orders", json={"ticketId": known["id"]})
    assert response.status_code == 201, response.text
    order = response.json()

    recovered.nats.start()
    writer.wait_for(len(writer.tickets) + 3)
    tickets = writer.finish()
    recovered.wait_services_ready()

    # Every ticket sold or renamed reaches orders, at its latest version.
    checker = user()
    for ticket in tickets.values():
        copy = order_matching(checker, ticket)["ticket"]
        assert copy["version"] >= 1

    # The order taken during the outage reaches expiration (its window has passed by now, so
    # orders cancels it), tickets (reserved, then freed) and payments (it refuses to charge).
    eventually(
        lambda: buyer.get(f"/api/orders/{order['id']}").json()["status"] == "cancelled",
        CATCH_UP,
    )

    def freed() -> bool:
        # Reserved then freed, or (events on two subjects, either order) freed at once and
        # the late reservation ignored: free at a later version either way.
        copy = seller.get(f"/api/tickets/{known['id']}").json()
        return copy.get("orderId") is None and copy["version"] >= 1

    eventually(freed, CATCH_UP)
    buyer.wait_payment_refused(order["id"], "Cannot pay for a cancelled order", CATCH_UP)
