"""The orders service started on a fresh database, its events recorded (`app`, `client` and
`deliver` come from `testsupport.plugin`); makers of the records its tests start from."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI

from common.money import exact_decimal, to_cents
from common.service import ServiceSpec
from orders.app import SERVICE
from orders.models import Ticket
from orders.settings import OrdersSettings
from testsupport.apps import NO_NATS


@pytest.fixture
def service() -> ServiceSpec[Any, Any]:
    return SERVICE


@pytest.fixture
def settings(jwt_key: str, mongo_uri: str) -> OrdersSettings:
    return OrdersSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL=NO_NATS)


MakeTicket = Callable[..., Awaitable[Ticket]]


@pytest.fixture
def make_ticket(app: FastAPI) -> MakeTicket:
    """Store a ticket as the replica holds it after ticket:created."""

    async def make(title: str = "concert", price: float = 20, version: int = 0) -> Ticket:
        cents = to_cents(exact_decimal(price))
        return await Ticket(title=title, price_cents=cents, version=version).insert()

    return make
