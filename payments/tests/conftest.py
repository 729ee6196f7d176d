"""Fixtures of the payments tests: the service with a fresh database and a recording
publisher (`app`, `client` and `deliver` come from `testsupport.plugin`), talking to a real
Stripe stand-in over HTTP (one process per test session)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI

from common.events.subjects import OrderStatus
from common.money import exact_decimal, to_cents
from common.service import ServiceSpec
from devstack.platform import StripeStandIn
from payments.app import SERVICE
from payments.models import Order
from payments.settings import PaymentsSettings
from testsupport.apps import NO_NATS
from testsupport.servers import free_port

STRIPE_KEY = "sk_test_payments_tests"


class StripeLedger:
    """What the stand-in holds, read through Stripe's own API (as a dashboard would)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, auth=(STRIPE_KEY, ""), timeout=10)

    def clear(self) -> None:
        self.http.delete("/_config/data").raise_for_status()

    def _list(self, resource: str) -> list[dict[str, Any]]:
        response = self.http.get(f"/v1/{resource}", params={"limit": 100})
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["data"]
        return items

    def charges_for(self, order_id: str) -> list[dict[str, Any]]:
        """Charges made for the order: directly (card token) or by its PaymentIntents."""
        intents = {
            intent["id"]
            for intent in self._list("payment_intents")
            if intent.get("metadata", {}).get("orderId") == order_id
        }
        return [
            charge
            for charge in self._list("charges")
            if charge.get("metadata", {}).get("orderId") == order_id
            or charge.get("payment_intent") in intents
        ]

    def succeeded_for(self, order_id: str) -> list[dict[str, Any]]:
        return [c for c in self.charges_for(order_id) if c["status"] == "succeeded"]

    def refunds_of(self, charge_id: str) -> list[dict[str, Any]]:
        response = self.http.get("/v1/refunds", params={"charge": charge_id, "limit": 100})
        response.raise_for_status()
        refunds: list[dict[str, Any]] = response.json()["data"]
        return refunds

    def all_refunds(self) -> list[dict[str, Any]]:
        return self._list("refunds")


@pytest.fixture(scope="session")
def stripe_standin(servers_dir: Path) -> Iterator[StripeStandIn]:
    """The Stripe stand-in of the local platform (localstripe on loopback, see
    `devstack/stripe_standin.py`), one process for the session."""
    server = StripeStandIn(servers_dir / "stripe", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def stripe(stripe_standin: StripeStandIn) -> Iterator[StripeLedger]:
    """The stand-in's records, emptied before the test."""
    ledger = StripeLedger(stripe_standin.url)
    ledger.clear()
    yield ledger
    ledger.http.close()


@pytest.fixture
def service() -> ServiceSpec[Any, Any]:
    return SERVICE


@pytest.fixture
def settings(
    jwt_key: str, mongo_uri: str, stripe_standin: StripeStandIn, stripe: StripeLedger
) -> PaymentsSettings:
    """Payments with a fresh database, charging at the Stripe stand-in (emptied first)."""
    return PaymentsSettings(
        JWT_KEY=jwt_key,
        MONGO_URI=mongo_uri,
        NATS_URL=NO_NATS,
        STRIPE_KEY=STRIPE_KEY,
        STRIPE_API_BASE=stripe_standin.url,
    )


MakeOrder = Callable[..., Awaitable[Order]]


@pytest.fixture
def make_order(app: FastAPI) -> MakeOrder:
    """Store an order as the replica holds it after order:created."""

    async def make(
        user_id: str | None = None,
        price: float | str = 20,
        status: OrderStatus = OrderStatus.CREATED,
        version: int = 0,
        expires_in: float | None = 900,
    ) -> Order:
        """`expires_in`: seconds left of the reservation (negative: run out; None: a
        replica document from before the deadline was kept)."""
        order = Order(
            id=PydanticObjectId(),
            user_id=user_id or str(PydanticObjectId()),
            price_cents=to_cents(exact_decimal(price)),
            status=status,
            version=version,
            expires_at=(
                None if expires_in is None else datetime.now(UTC) + timedelta(seconds=expires_in)
            ),
        )
        return await order.insert()

    return make


@pytest.fixture
def buyer() -> str:
    """The user id of the buyer who pays (`make_order(user_id=buyer)` is theirs)."""
    return str(PydanticObjectId())


Pay = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def pay(client: httpx.AsyncClient, auth: Callable[..., dict[str, str]], buyer: str) -> Pay:
    """`await pay(order, token="tok_visa")`: the buyer asks to pay for the order
    (POST /api/payments); returns the answer."""

    async def post(order: Order | PydanticObjectId, token: str = "tok_visa") -> httpx.Response:
        order_id = order.id if isinstance(order, Order) else order
        body = {"token": token, "orderId": str(order_id)}
        return await client.post("/api/payments", json=body, headers=auth(buyer))

    return post


AbandonAttempt = Callable[..., Awaitable[None]]


@pytest.fixture
def abandon_attempt(app: FastAPI) -> AbandonAttempt:
    """`await abandon_attempt(order, token, renewed_ago=seconds)`: leave `order` as a
    request leaves it that took the payment claim with `token` and last renewed it
    `renewed_ago` seconds ago (then died, or is still charging when that is recent)."""

    async def leave(order: Order, token: str, *, renewed_ago: float) -> None:
        await Order.get_pymongo_collection().update_one(
            {"_id": order.id},
            {
                "$set": {
                    "payment_state": "paying",
                    "payment_token": token,
                    "payment_heartbeat_at": time.time() - renewed_ago,
                }
            },
        )

    return leave


@pytest.fixture
def make_paid_order(make_order: MakeOrder, pay: Pay, buyer: str) -> MakeOrder:
    """`await make_paid_order(token="tok_visa", price=42)`: an order of the buyer's, paid
    through the API (which must take the payment)."""

    async def make(token: str = "tok_visa", price: float = 42) -> Order:
        order = await make_order(user_id=buyer, price=price)
        response = await pay(order, token)
        assert response.status_code == 201, response.text
        return order

    return make


@pytest.fixture
async def order(make_order: MakeOrder, buyer: str) -> Order:
    """An order of the buyer's, as the replica holds it: $20, created, 15 minutes left."""
    return await make_order(user_id=buyer)
