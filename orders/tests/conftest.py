from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from common.money import exact_decimal, to_cents
from orders.app import create_app
from orders.models import Ticket
from orders.settings import OrdersSettings
from testsupport.doubles import RecordingPublisher


@pytest.fixture
async def app(
    jwt_key: str, mongo_uri: str, publisher: RecordingPublisher
) -> AsyncIterator[FastAPI]:
    """The service with a fresh database; events go to the recording `publisher`."""
    settings = OrdersSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL="nats://unused:4222")
    app = create_app(settings, publisher=publisher)
    async with LifespanManager(app):
        yield app


MakeTicket = Callable[..., Awaitable[Ticket]]


@pytest.fixture
def make_ticket(app: FastAPI) -> MakeTicket:
    """Store a ticket as the replica holds it after ticket:created."""

    async def make(title: str = "concert", price: float = 20, version: int = 0) -> Ticket:
        cents = to_cents(exact_decimal(price))
        return await Ticket(title=title, price_cents=cents, version=version).insert()

    return make
