"""Many buyers at the same moment, one ticket: exactly one of them gets it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devstack.testing import Visitor
from testsupport.servers import eventually

pytestmark = pytest.mark.integration

BUYERS = 25


def test_twenty_five_buyers_at_once_one_winner(user: Callable[[], Visitor]) -> None:
    seller = user()
    with ThreadPoolExecutor(8) as pool:
        buyers = list(pool.map(lambda _: user(), range(BUYERS)))
    ticket = seller.create_ticket("Last seat of the season", 150)
    # A second ticket, sold after the first: once orders can take an order for it, it has
    # seen the first one too (one consumer, events in order), without reserving the first.
    marker = seller.create_ticket("Marker", 1)
    assert buyers[0].order(marker["id"]).status_code == 201

    start = threading.Barrier(BUYERS)

    def buy(buyer: Visitor) -> httpx.Response:
        start.wait()
        return buyer.post("/api/orders", json={"ticketId": ticket["id"]})

    with ThreadPoolExecutor(BUYERS) as pool:
        responses = list(pool.map(buy, buyers))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [400] * (BUYERS - 1), [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert response.json()["errors"][0]["message"] == "Ticket is already reserved"
    winner_order = next(r.json() for r in responses if r.status_code == 201)
    winner = buyers[[r.status_code for r in responses].index(201)]
    assert winner_order["userId"] == winner.id

    def held_by_the_winner() -> bool:
        response = seller.get(f"/api/tickets/{ticket['id']}")
        return bool(response.json().get("orderId") == winner_order["id"])

    eventually(held_by_the_winner, 20)
    # The winner pays as the web page does, with a test payment method.
    response = winner.pay(winner_order["id"], token="pm_card_visa")
    assert response.status_code == 201, response.text
    for buyer in buyers:
        if buyer is not winner:
            mine = buyer.get("/api/orders").json()
            assert all(order["ticket"]["id"] != ticket["id"] for order in mine)
