from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from auth.app import create_app
from auth.settings import AuthSettings
from testsupport.doubles import RecordingPublisher


@pytest.fixture
def settings(mongo_uri: str, jwt_key: str) -> AuthSettings:
    return AuthSettings(
        JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL="nats://unused:4222", COOKIE_SECURE=False
    )


@pytest.fixture
async def app(settings: AuthSettings, publisher: RecordingPublisher) -> AsyncIterator[FastAPI]:
    """The service with a fresh database; what it publishes goes to the recording
    `publisher`."""
    app = create_app(settings, publisher=publisher)
    async with LifespanManager(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


Signup = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def signup(client: httpx.AsyncClient) -> Signup:
    """POST /api/users/signup with the given (or default) credentials."""

    async def post(email: str = "test@test.com", password: str = "password") -> httpx.Response:
        return await client.post("/api/users/signup", json={"email": email, "password": password})

    return post
