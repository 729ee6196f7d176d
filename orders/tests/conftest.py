from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from common.testing.doubles import RecordingPublisher
from orders.app import create_app
from orders.models import Ticket
from orders.settings import OrdersSettings


@pytest.fixture
async def app(
    jwt_key: str, mongo_uri: str, publisher: RecordingPublisher
) -> AsyncIterator[FastAPI]:
    """The service with a fresh database; events go to the recording `publisher`."""
    settings = OrdersSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL="nats://unused:4222")
    app = create_app(settings, publisher=publisher)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


@pytest.fixture
def auth(signin: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    """Request headers carrying the session cookie of a (new, or the given) user."""

    def make(user_id: str | None = None) -> dict[str, str]:
        cookies = signin(user_id)
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}

    return make


MakeTicket = Callable[..., Awaitable[Ticket]]


@pytest.fixture
def make_ticket(app: FastAPI) -> MakeTicket:
    """Store a ticket as the replica holds it after ticket:created."""

    async def make(title: str = "concert", price: float = 20, version: int = 0) -> Ticket:
        return await Ticket(title=title, price=price, version=version).insert()

    return make
