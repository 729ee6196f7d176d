"""What a user does against the running services over HTTP (the integration tests' steps),
waiting where an event has yet to reach another service."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx


def until_found(
    call: Callable[[], httpx.Response], timeout: float = 20.0, interval: float = 0.1
) -> httpx.Response:
    """`call()`, again while it is answered 404 (a replica has not heard of the record yet);
    the first other answer. Fails the test if it is still 404 after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        response = call()
        if response.status_code != 404:
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"still 404 after {timeout}s: {response.text}")
        time.sleep(interval)


def sell(tickets: httpx.Client, headers: dict[str, str], price: float, title: str = "gig") -> str:
    """List a ticket through the tickets API; its id."""
    response = tickets.post("/api/tickets", json={"title": title, "price": price}, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def reserve(orders: httpx.Client, headers: dict[str, str], ticket_id: str) -> dict[str, Any]:
    """Order the ticket as soon as orders has its replica; the order."""
    response = until_found(
        lambda: orders.post("/api/orders", json={"ticketId": ticket_id}, headers=headers)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def pay(
    payments: httpx.Client, headers: dict[str, str], order_id: str, token: str = "tok_visa"
) -> httpx.Response:
    """Pay as soon as payments has the order's replica; its answer."""
    return until_found(
        lambda: payments.post(
            "/api/payments", json={"token": token, "orderId": order_id}, headers=headers
        )
    )
