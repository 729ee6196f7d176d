"""The purchase journeys, through nginx only: sell, reserve, pay, expire, cancel."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.platform import Platform
from devstack.testing import EXPIRATION_WINDOW_SECONDS, Visitor
from testsupport.servers import eventually

pytestmark = pytest.mark.integration

NewUser = Callable[[], Visitor]
CANCELLED = "Cannot pay for a cancelled order"
SETTLE = 20.0
"""Seconds an event is given to travel from one service to the others."""


def ticket_of(visitor: Visitor, ticket_id: str) -> dict[str, Any]:
    response = visitor.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


def order_of(visitor: Visitor, order_id: str) -> dict[str, Any]:
    response = visitor.get(f"/api/orders/{order_id}")
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


def settled_free(visitor: Visitor, ticket_id: str) -> bool:
    """Free again after a cancelled order: tickets has applied at least one of its events."""
    ticket = ticket_of(visitor, ticket_id)
    return ticket.get("orderId") is None and ticket["version"] >= 1


def for_sale(visitor: Visitor) -> set[str]:
    response = visitor.get("/api/tickets")
    assert response.status_code == 200, response.text
    return {ticket["id"] for ticket in response.json()}


def charges_for(platform: Platform, order_id: str) -> list[dict[str, Any]]:
    """What the Stripe stand-in charged for an order (payments tags charges with it); declined
    attempts are recorded too, as Stripe does, but charge nothing."""
    response = httpx.get(
        f"{platform.stripe.url}/v1/charges",
        params={"limit": 100},
        auth=(platform.settings.stripe_key, ""),
    )
    assert response.status_code == 200, response.text
    charges = response.json()["data"]
    return [
        c
        for c in charges
        if c.get("metadata", {}).get("orderId") == order_id and c["status"] == "succeeded"
    ]


def test_sell_buy_pay_and_the_ticket_stays_sold(platform: Platform, user: NewUser) -> None:
    seller, buyer, third = user(), user(), user()

    ticket = seller.create_ticket("Concert at the park", 37.25)
    assert ticket["title"] == "Concert at the park"
    assert ticket["price"] == 37.25
    assert ticket["userId"] == seller.id
    assert ticket["version"] == 0
    assert ticket.get("orderId") is None
    assert ticket["id"] in for_sale(third)

    ordered_at = datetime.now(UTC)
    response = buyer.order(ticket["id"])
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "created"
    assert order["userId"] == buyer.id
    assert order["ticket"]["id"] == ticket["id"]
    assert order["ticket"]["price"] == 37.25
    expires_at = datetime.fromisoformat(order["expiresAt"].replace("Z", "+00:00"))
    window = timedelta(seconds=EXPIRATION_WINDOW_SECONDS)
    assert ordered_at + window - timedelta(seconds=5) < expires_at < ordered_at + window * 2

    # Reserved for the buyer: nobody else can order it, the seller cannot edit it.
    response = third.post("/api/orders", json={"ticketId": ticket["id"]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Ticket is already reserved"
    eventually(lambda: ticket_of(third, ticket["id"]).get("orderId") == order["id"], SETTLE)
    assert ticket["id"] not in for_sale(third)
    response = seller.put(f"/api/tickets/{ticket['id']}", json={"title": "x", "price": 1})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Cannot edit a reserved ticket"
    assert third.get(f"/api/orders/{order['id']}").status_code == 401

    response = buyer.pay(order["id"])
    assert response.status_code == 201, response.text
    assert response.json()["id"]
    eventually(lambda: order_of(buyer, order["id"])["status"] == "complete", SETTLE)
    charges = charges_for(platform, order["id"])
    assert len(charges) == 1
    assert (charges[0]["amount"], charges[0]["currency"]) == (3725, "usd")
    assert charges[0]["status"] == "succeeded"

    # Charged at most once; a paid order cannot be cancelled.
    second = buyer.post("/api/payments", json={"token": "tok_visa", "orderId": order["id"]})
    assert second.status_code == 400
    assert buyer.delete(f"/api/orders/{order['id']}").status_code == 400
    assert len(charges_for(platform, order["id"])) == 1

    # The reservation window passes: the expiration fires, and changes nothing.
    time.sleep(max(0.0, (expires_at - datetime.now(UTC)).total_seconds()) + 3)
    assert order_of(buyer, order["id"])["status"] == "complete"
    assert ticket_of(third, ticket["id"])["orderId"] == order["id"]
    assert ticket["id"] not in for_sale(third)
    response = third.post("/api/orders", json={"ticketId": ticket["id"]})
    assert response.status_code == 400
    mine = buyer.get("/api/orders").json()
    assert [(o["id"], o["status"]) for o in mine] == [(order["id"], "complete")]


def test_an_unpaid_order_expires_and_the_ticket_is_for_sale_again(
    platform: Platform, user: NewUser
) -> None:
    seller, buyer, later = user(), user(), user()
    ticket = seller.create_ticket("Theatre, row 3", 12)

    response = buyer.order(ticket["id"])
    assert response.status_code == 201, response.text
    order = response.json()
    eventually(lambda: ticket_of(buyer, ticket["id"]).get("orderId") == order["id"], SETTLE)

    eventually(
        lambda: order_of(buyer, order["id"])["status"] == "cancelled",
        EXPIRATION_WINDOW_SECONDS + SETTLE,
    )
    eventually(lambda: ticket_of(later, ticket["id"]).get("orderId") is None, SETTLE)
    assert ticket["id"] in for_sale(later)

    # Too late to pay; someone else can buy it now.
    buyer.wait_payment_refused(order["id"], CANCELLED, SETTLE)
    late = buyer.post("/api/payments", json={"token": "tok_visa", "orderId": order["id"]})
    assert late.status_code == 400
    assert late.json()["errors"][0]["message"] == CANCELLED
    assert charges_for(platform, order["id"]) == []

    def second_order_taken() -> bool:
        response = later.post("/api/orders", json={"ticketId": ticket["id"]})
        assert response.status_code == 201, response.text
        return True

    eventually(second_order_taken, SETTLE, interval=0.5)


def test_a_cancelled_order_frees_the_ticket(platform: Platform, user: NewUser) -> None:
    seller, buyer, other = user(), user(), user()
    ticket = seller.create_ticket("Football final", 80)
    response = buyer.order(ticket["id"])
    assert response.status_code == 201, response.text
    order = response.json()

    assert other.delete(f"/api/orders/{order['id']}").status_code == 401
    assert buyer.delete(f"/api/orders/{order['id']}").status_code == 204
    assert order_of(buyer, order["id"])["status"] == "cancelled"
    assert buyer.delete(f"/api/orders/{order['id']}").status_code == 204

    # Tickets hears of the order and of its cancellation on two subjects, in either order;
    # free at a later version means it has settled (a late order:created is ignored).
    eventually(lambda: settled_free(other, ticket["id"]), SETTLE)
    assert ticket["id"] in for_sale(other)

    buyer.wait_payment_refused(order["id"], CANCELLED, SETTLE)
    response = buyer.post("/api/payments", json={"token": "tok_visa", "orderId": order["id"]})
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == CANCELLED
    assert charges_for(platform, order["id"]) == []
    # Now free, the seller may edit it again.
    response = seller.put(f"/api/tickets/{ticket['id']}", json={"title": "Final", "price": 90})
    assert response.status_code == 200, response.text
    assert order_of(buyer, order["id"])["status"] == "cancelled"
