"""Simultaneous requests on one ticket or one order."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from httpx import AsyncClient

from common.errors import BadRequestError
from common.events.schemas import ExpirationComplete, PaymentCreated
from common.events.subjects import OrderStatus
from orders.events.listeners import ExpirationCompleteListener, PaymentCreatedListener
from orders.models import Order, Ticket
from orders.service import OrderService
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import Deliver, stored

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]
PlaceOrder = Callable[..., Awaitable[dict[str, Any]]]
BUYER = "0123456789abcdef01234567"


def distinct(publisher: RecordingPublisher, subject: str) -> list[dict[str, Any]]:
    """Events by id: a pending event may be sent by more than one flush (JetStream keeps one)."""
    return list({e.msg_id: e.data for e in publisher.published if e.subject == subject}.values())


@pytest.mark.parametrize("slow_writes", [False, True])
async def test_fifty_simultaneous_reservations_exactly_one_wins(
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    publisher: RecordingPublisher,
    monkeypatch: pytest.MonkeyPatch,
    slow_writes: bool,
) -> None:
    if slow_writes:
        # Widen the gap between whatever a request reads and its write: a check-then-save
        # would let many requests through; an atomic reservation still lets exactly one.
        insert = Order.insert_with_event

        async def slow_insert(self: Order, make_event: Any) -> Order:
            await asyncio.sleep(0.02)
            return await insert(self, make_event)

        monkeypatch.setattr(Order, "insert_with_event", slow_insert)
    ticket = await make_ticket()
    responses = await asyncio.gather(
        *[
            client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
            for _ in range(50)
        ]
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(201) == 1
    assert statuses.count(400) == 49
    rejected = next(response for response in responses if response.status_code == 400)
    assert rejected.json() == {"errors": [{"message": "Ticket is already reserved"}]}
    winner = next(response for response in responses if response.status_code == 201).json()
    assert [str(order.id) for order in await Order.find_all().to_list()] == [winner["id"]]
    assert [event["id"] for event in distinct(publisher, "order:created")] == [winner["id"]]


@pytest.mark.usefixtures("app")
async def test_simultaneous_reservations_in_several_replicas_exactly_one_wins(
    make_ticket: MakeTicket, publisher: RecordingPublisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each replica answers its own requests for a ticket it is reserving from its own order
    (`orders.reservations`); between replicas, the unique reservation decides. Every
    replica's first request reads the ticket before any inserts."""
    replicas = [OrderService(expiration_window_seconds=900) for _ in range(10)]
    read = 0
    all_read = asyncio.Event()
    find_replica, insert = Ticket.find_replica, Order.insert_with_event

    async def counted_find(ticket_id: Any) -> Ticket | None:
        nonlocal read
        found = await find_replica(ticket_id)
        read += 1
        if read == len(replicas):
            all_read.set()
        return found

    async def insert_once_all_read(self: Order, make_event: Any) -> Order:
        await asyncio.wait_for(all_read.wait(), timeout=30)
        return await insert(self, make_event)

    monkeypatch.setattr(Ticket, "find_replica", counted_find)
    monkeypatch.setattr(Order, "insert_with_event", insert_once_all_read)
    ticket = await make_ticket()
    assert ticket.id is not None
    ticket_id = ticket.id
    outcomes = await asyncio.gather(
        *[
            replicas[n % len(replicas)].reserve(ticket_id, f"buyer-{n}", f"request-{n:04d}")
            for n in range(50)
        ],
        return_exceptions=True,
    )
    won = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, BadRequestError)]
    assert (len(won), len(refused)) == (1, 49), outcomes
    assert read == len(replicas)
    [(order, _)] = won
    assert [str(o.id) for o in await Order.find_all().to_list()] == [str(order.id)]
    assert [event["id"] for event in distinct(publisher, "order:created")] == [str(order.id)]


async def test_concurrent_cancellations_publish_one_event(
    order: dict[str, Any],
    buyer: dict[str, str],
    client: AsyncClient,
    deliver: Deliver,
    publisher: RecordingPublisher,
) -> None:
    expired = ExpirationComplete(order_id=order["id"])
    cancels, msgs = await asyncio.gather(
        asyncio.gather(
            *[client.delete(f"/api/orders/{order['id']}", headers=buyer) for _ in range(5)]
        ),
        asyncio.gather(*[deliver(expired, to=ExpirationCompleteListener) for _ in range(5)]),
    )
    assert all(cancel.status_code == 204 for cancel in cancels)
    assert all(msg.acked for msg in msgs)
    settled = await stored(Order, order["id"])
    assert (settled.status, settled.version) == (OrderStatus.CANCELLED, 1)
    assert len(distinct(publisher, "order:cancelled")) == 1


async def test_cancellation_racing_payment_ends_consistent(
    client: AsyncClient,
    auth: Auth,
    make_ticket: MakeTicket,
    place_order: PlaceOrder,
    deliver: Deliver,
    publisher: RecordingPublisher,
) -> None:
    """Either the payment lands first (complete; the cancel is a 400 and publishes nothing)
    or the cancellation does (cancelled and published; the payment leaves it cancelled)."""
    for _ in range(5):
        publisher.published.clear()
        order = await place_order(await make_ticket(), by=auth(BUYER))
        payment = PaymentCreated(id="p", order_id=order["id"], stripe_id="ch")
        cancel, msg = await asyncio.gather(
            client.delete(f"/api/orders/{order['id']}", headers=auth(BUYER)),
            deliver(payment, to=PaymentCreatedListener),
        )
        assert msg.acked
        settled = await stored(Order, order["id"])
        if cancel.status_code == 204:
            assert settled.status == OrderStatus.CANCELLED
            assert len(distinct(publisher, "order:cancelled")) == 1
        else:
            assert cancel.status_code == 400
            assert settled.status == OrderStatus.COMPLETE
            assert distinct(publisher, "order:cancelled") == []
            assert len(distinct(publisher, "order:completed")) == 1
