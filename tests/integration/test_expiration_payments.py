"""The whole chain with every backend service as a process, over real NATS, Redis and the
Stripe stand-in: a reservation that lapses is cancelled and frees its ticket; a paid one
is complete and its expiry changes nothing; a charge is never forgotten when payments is
killed (-9) while Stripe is charging the card."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pymongo import MongoClient

from common.events.stream import STREAM_NAME
from common.events.subjects import Subjects
from devstack.platform import StripeStandIn
from testsupport.servers import NatsServer, RedisServer, ServiceProcess, eventually
from testsupport.steps import pay, reserve, sell

pytestmark = pytest.mark.integration

Headers = Callable[..., dict[str, str]]
SELLER = "5e11e75e11e75e11e75e11e7"
BUYER = "b0b0b0b0b0b0b0b0b0b0b0b0"
WINDOW_SECONDS = 4
"""The reservation length given to orders (the contract's default is 15 minutes)."""
STRIPE_KEY = "sk_test_integration"


@dataclass
class Platform:
    tickets: httpx.Client
    orders: httpx.Client
    payments: httpx.Client
    stripe: httpx.Client
    nats_url: str


def start_backend(
    start_service: Callable[..., ServiceProcess],
    redis_server: RedisServer,
    stripe_standin: StripeStandIn,
    window_seconds: int,
) -> dict[str, ServiceProcess]:
    """tickets, orders (reservations of `window_seconds`), expiration and payments, started
    together and awaited ready."""
    services = {
        "tickets": start_service("tickets", wait_ready=False),
        "orders": start_service(
            "orders", {"EXPIRATION_WINDOW_SECONDS": str(window_seconds)}, wait_ready=False
        ),
        "expiration": start_service(
            "expiration", {"REDIS_URL": redis_server.url}, wait_ready=False
        ),
        "payments": start_service(
            "payments",
            {"STRIPE_KEY": STRIPE_KEY, "STRIPE_API_BASE": stripe_standin.url},
            wait_ready=False,
        ),
    }
    for service in services.values():
        service.wait_ready(timeout=60)
    return services


@pytest.fixture
def platform(
    start_service: Callable[..., ServiceProcess],
    nats_server: NatsServer,
    redis_server: RedisServer,
    stripe_standin: StripeStandIn,
) -> Iterator[Platform]:
    """The backend with reservations of `WINDOW_SECONDS`, and clients of its APIs."""
    services = start_backend(start_service, redis_server, stripe_standin, WINDOW_SECONDS)
    clients = {
        name: httpx.Client(base_url=service.base_url, timeout=10)
        for name, service in services.items()
    }
    stripe = httpx.Client(base_url=stripe_standin.url, auth=(STRIPE_KEY, ""), timeout=10)
    yield Platform(
        clients["tickets"], clients["orders"], clients["payments"], stripe, nats_server.url
    )
    for client in [*clients.values(), stripe]:
        client.close()
    # Stopped together (each takes seconds to drain); `start_service` then finds them stopped.
    with ThreadPoolExecutor(len(services)) as pool:
        list(pool.map(lambda service: service.stop(), services.values()))


def order_of(platform: Platform, headers: dict[str, str], order_id: str) -> dict[str, Any]:
    response = platform.orders.get(f"/api/orders/{order_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def ticket_of(platform: Platform, ticket_id: str) -> dict[str, Any]:
    response = platform.tickets.get(f"/api/tickets/{ticket_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def charges_of(platform: Platform, amount: int) -> list[dict[str, Any]]:
    """The successful charges of `amount` cents the Stripe stand-in holds."""
    response = platform.stripe.get("/v1/charges", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [
        c for c in response.json()["data"] if c["amount"] == amount and c["status"] == "succeeded"
    ]


def published(nats_url: str, subject: Subjects, order_id: str) -> int:
    """How many events of `subject` about `order_id` the stream holds."""
    field = (
        "orderId" if subject in (Subjects.EXPIRATION_COMPLETE, Subjects.PAYMENT_CREATED) else "id"
    )

    async def count() -> int:
        nc = await nats.connect(nats_url)
        try:
            subscription = await nc.jetstream().pull_subscribe(
                subject.value,
                stream=STREAM_NAME,
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=5,
                ),
            )
            found = 0
            while True:
                try:
                    messages = await subscription.fetch(100, timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    return found
                found += sum(json.loads(m.data).get(field) == order_id for m in messages)
        finally:
            await nc.close()

    return asyncio.run(count())


def seconds_until(expires_at: str) -> float:
    moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def test_an_unpaid_order_expires_is_cancelled_and_frees_its_ticket(
    platform: Platform, auth: Headers
) -> None:
    seller, buyer = auth(SELLER), auth(BUYER)
    ticket_id = sell(platform.tickets, seller, 12)
    order = reserve(platform.orders, buyer, ticket_id)
    eventually(lambda: ticket_of(platform, ticket_id)["orderId"] == order["id"])
    assert order_of(platform, buyer, order["id"])["status"] == "created"

    # The window passes: expiration publishes expiration:complete, orders cancels the
    # order and publishes order:cancelled, tickets frees the ticket.
    time.sleep(seconds_until(order["expiresAt"]))
    eventually(lambda: order_of(platform, buyer, order["id"])["status"] == "cancelled", timeout=20)
    eventually(lambda: ticket_of(platform, ticket_id).get("orderId") is None, timeout=20)
    assert published(platform.nats_url, Subjects.EXPIRATION_COMPLETE, order["id"]) == 1
    assert published(platform.nats_url, Subjects.ORDER_CANCELLED, order["id"]) == 1
    assert ticket_id in {t["id"] for t in platform.tickets.get("/api/tickets").json()}

    # payments' replica is cancelled too: too late to pay, and nothing is charged. (Polled
    # with a card that is declined, so that a replica still behind charges nothing.)
    def refused_as_cancelled(token: str) -> bool:
        response = platform.payments.post(
            "/api/payments", json={"token": token, "orderId": order["id"]}, headers=buyer
        )
        assert response.status_code in (400, 404), response.text
        return bool(response.json()["errors"][0]["message"] == "Cannot pay for a cancelled order")

    eventually(lambda: refused_as_cancelled("tok_chargeDeclined"), timeout=20)
    assert refused_as_cancelled("tok_visa")
    assert charges_of(platform, 1200) == []

    # Someone else can buy the ticket now.
    again = reserve(platform.orders, auth(), ticket_id)
    assert again["status"] == "created"


def test_a_paid_order_is_complete_and_its_expiry_changes_nothing(
    platform: Platform, auth: Headers
) -> None:
    seller, buyer = auth(SELLER), auth(BUYER)
    ticket_id = sell(platform.tickets, seller, 37.25)
    order = reserve(platform.orders, buyer, ticket_id)

    paid = pay(platform.payments, buyer, order["id"])

    assert paid.status_code == 201, paid.text
    eventually(lambda: order_of(platform, buyer, order["id"])["status"] == "complete")
    (charge,) = charges_of(platform, 3725)
    assert charge["currency"] == "usd"
    second = platform.payments.post(
        "/api/payments", json={"token": "tok_visa", "orderId": order["id"]}, headers=buyer
    )
    assert second.status_code == 400
    assert len(charges_of(platform, 3725)) == 1

    # The window passes and the expiration fires; the order stays complete, the ticket
    # stays sold, and nothing is cancelled anywhere.
    time.sleep(seconds_until(order["expiresAt"]))
    eventually(
        lambda: published(platform.nats_url, Subjects.EXPIRATION_COMPLETE, order["id"]) == 1,
        timeout=20,
    )
    time.sleep(1.5)  # time for orders to (wrongly) act on it
    assert published(platform.nats_url, Subjects.ORDER_CANCELLED, order["id"]) == 0
    completed = order_of(platform, buyer, order["id"])
    assert completed["status"] == "complete"
    assert ticket_of(platform, ticket_id)["orderId"] == order["id"]
    taken = platform.orders.post("/api/orders", json={"ticketId": ticket_id}, headers=auth())
    assert taken.status_code == 400
    assert platform.orders.delete(f"/api/orders/{order['id']}", headers=buyer).status_code == 400
    assert len(charges_of(platform, 3725)) == 1


# --- a charge is never forgotten -----------------------------------------------------------
#
# Stripe is paused, the buyer pays, payments dies with the charge request in Stripe's hands,
# Stripe resumes and charges. Whatever happens next, the order ends either complete with one
# charge and one payment, or cancelled with the charge refunded - without the buyer retrying.

SETTLED_WITHIN = 60.0
"""The contract: a charge that reached Stripe is recorded or refunded within 60 s of payments
being able to act."""


@dataclass
class Chain:
    tickets: httpx.Client
    orders: httpx.Client
    payments: ServiceProcess
    stripe_standin: StripeStandIn
    stripe: httpx.Client
    nats_url: str

    def order(self, headers: dict[str, str], order_id: str) -> dict[str, Any]:
        response = self.orders.get(f"/api/orders/{order_id}", headers=headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def charges_for(self, order_id: str) -> list[dict[str, Any]]:
        """Succeeded charges for the order (by card token or by PaymentIntent)."""
        response = self.stripe.get("/v1/charges", params={"limit": 100})
        assert response.status_code == 200, response.text
        return [
            charge
            for charge in response.json()["data"]
            if charge.get("metadata", {}).get("orderId") == order_id
            and charge["status"] == "succeeded"
        ]

    def payments_stored(self, order_id: str) -> list[dict[str, Any]]:
        uri = self.payments.env["MONGO_URI"] if self.payments.env else ""
        client: MongoClient[dict[str, Any]] = MongoClient(uri, serverSelectionTimeoutMS=3000)
        try:
            return list(client.get_default_database()["payments"].find({"order_id": order_id}))
        finally:
            client.close()


def chain(window_seconds: int) -> Callable[..., Iterator[Chain]]:
    def fixture(
        start_service: Callable[..., ServiceProcess],
        nats_server: NatsServer,
        redis_server: RedisServer,
        stripe_standin: StripeStandIn,
    ) -> Iterator[Chain]:
        services = start_backend(start_service, redis_server, stripe_standin, window_seconds)
        tickets = httpx.Client(base_url=services["tickets"].base_url, timeout=10)
        orders = httpx.Client(base_url=services["orders"].base_url, timeout=10)
        stripe = httpx.Client(base_url=stripe_standin.url, auth=(STRIPE_KEY, ""), timeout=10)
        yield Chain(tickets, orders, services["payments"], stripe_standin, stripe, nats_server.url)
        if stripe_standin.process is not None and stripe_standin.running:
            stripe_standin.process.send_signal(signal.SIGCONT)
        for client in (tickets, orders, stripe):
            client.close()

    return fixture


long_window = pytest.fixture(chain(window_seconds=300), name="long_window")
short_window = pytest.fixture(chain(window_seconds=8), name="short_window")


def crash_while_stripe_charges(platform: Chain, buyer: dict[str, str], order_id: str) -> None:
    """Pause Stripe, pay, kill payments while the charge request waits in Stripe's hands,
    then let Stripe go on (it charges the card; its answer has nobody left to read it)."""
    pay_url = f"{platform.payments.base_url}/api/payments"
    eventually(  # payments has the order's replica (a declined card probe charges nothing)
        lambda: (
            httpx.post(
                pay_url, json={"token": "tok_chargeDeclined", "orderId": order_id}, headers=buyer
            ).status_code
            == 400
        ),
        timeout=20,
    )
    assert platform.stripe_standin.process is not None
    platform.stripe_standin.process.send_signal(signal.SIGSTOP)
    answers: list[Any] = []

    def buyer_pays() -> None:
        try:
            answers.append(
                httpx.post(
                    pay_url,
                    json={"token": "tok_visa", "orderId": order_id},
                    headers=buyer,
                    timeout=60,
                )
            )
        except httpx.HTTPError as error:
            answers.append(error)

    buyer_thread = threading.Thread(target=buyer_pays, daemon=True)
    buyer_thread.start()
    time.sleep(2.0)  # the request is claimed and sent to the paused Stripe
    platform.payments.kill()
    buyer_thread.join(timeout=10)
    assert answers, "the buyer's request ended when payments died"
    assert isinstance(answers[0], httpx.HTTPError), answers
    platform.stripe_standin.process.send_signal(signal.SIGCONT)


def test_killed_mid_charge_the_order_is_completed_with_one_charge_and_one_payment(
    long_window: Chain, auth: Headers
) -> None:
    platform = long_window
    seller, buyer = auth(SELLER), auth(BUYER)
    order = reserve(platform.orders, buyer, sell(platform.tickets, seller, 23.45))
    order_id = order["id"]

    crash_while_stripe_charges(platform, buyer, order_id)
    eventually(lambda: len(platform.charges_for(order_id)) == 1, timeout=20)
    platform.payments.start()
    back = time.monotonic()

    eventually(
        lambda: platform.order(buyer, order_id)["status"] == "complete", timeout=SETTLED_WITHIN
    )
    print(f"order complete {time.monotonic() - back:.1f}s after payments came back")
    (charge,) = platform.charges_for(order_id)
    assert (charge["amount"], charge["refunded"]) == (2345, False)
    (payment,) = platform.payments_stored(order_id)
    assert payment["stripe_id"] == charge["id"]
    assert published(platform.nats_url, Subjects.PAYMENT_CREATED, order_id) == 1
    again = httpx.post(
        f"{platform.payments.base_url}/api/payments",
        json={"token": "tok_visa", "orderId": order_id},
        headers=buyer,
    )
    assert again.status_code == 400
    assert again.json() == {"errors": [{"message": "This order has already been paid for"}]}
    assert len(platform.charges_for(order_id)) == 1


def test_killed_mid_charge_and_cancelled_meanwhile_the_charge_is_refunded(
    short_window: Chain, auth: Headers
) -> None:
    platform = short_window
    seller, buyer = auth(SELLER), auth(BUYER)
    ticket_id = sell(platform.tickets, seller, 9.99)
    order = reserve(platform.orders, buyer, ticket_id)
    order_id = order["id"]

    crash_while_stripe_charges(platform, buyer, order_id)
    # Payments stays down while the reservation runs out and orders cancels the order.
    eventually(
        lambda: platform.order(buyer, order_id)["status"] == "cancelled", timeout=SETTLED_WITHIN
    )
    platform.payments.start()
    back = time.monotonic()

    def refunded() -> bool:
        """Refunded at Stripe, and then (the next write) recorded by payments."""
        charges = platform.charges_for(order_id)
        payments = platform.payments_stored(order_id)
        return (
            len(charges) == 1
            and charges[0]["refunded"] is True
            and len(payments) == 1
            and bool(payments[0].get("refunded"))  # the stand-in reads a stored true back as 1
        )

    eventually(refunded, timeout=SETTLED_WITHIN)
    print(f"charge refunded {time.monotonic() - back:.1f}s after payments came back")
    (charge,) = platform.charges_for(order_id)
    assert (charge["amount"], charge["amount_refunded"]) == (999, 999)
    (payment,) = platform.payments_stored(order_id)
    assert (payment["stripe_id"], payment["refunded"]) == (charge["id"], True)
    assert platform.order(buyer, order_id)["status"] == "cancelled"
    ticket = platform.tickets.get(f"/api/tickets/{ticket_id}").json()
    assert ticket.get("orderId") is None, "the ticket is for sale again"
