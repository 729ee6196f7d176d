from collections.abc import AsyncIterator

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from testsupport.doubles import RecordingPublisher
from tickets.app import create_app
from tickets.settings import TicketsSettings


@pytest.fixture
async def app(
    jwt_key: str, mongo_uri: str, publisher: RecordingPublisher
) -> AsyncIterator[FastAPI]:
    """The service with a fresh database; events go to the recording `publisher`."""
    settings = TicketsSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL="nats://unused:4222")
    app = create_app(settings, publisher=publisher)
    async with LifespanManager(app):
        yield app
