"""Pytest fixtures for every service's tests (loaded with `-p testsupport.plugin`).

Real NATS (JetStream) and the Mongo stand-in start once per test session on free ports in a
temporary directory, only if a test asks for them. When `NATS_URL` / `MONGO_URI` are set,
those servers are used instead (GitHub Actions points them at real MongoDB 7 and NATS).
Each test gets its own database, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pymongo import MongoClient

from common.events.listener import Listener
from common.outbox import Outbox
from common.session import COOKIE_NAME, issue_token
from testsupport.doubles import RecordingPublisher
from testsupport.servers import MongoStandIn, NatsServer

TEST_JWT_KEY = "test-jwt-key"


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def nats_url(servers_dir: Path) -> Iterator[str]:
    if os.environ.get("NATS_URL"):
        yield os.environ["NATS_URL"]
        return
    server = NatsServer(servers_dir / "nats")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongo_server_url(servers_dir: Path) -> Iterator[str]:
    """`mongodb://host:port` of the test Mongo server (no database name)."""
    if os.environ.get("MONGO_URI"):
        base = os.environ["MONGO_URI"].split("?")[0]
        scheme, _, rest = base.partition("://")
        yield f"{scheme}://{rest.split('/')[0]}"
        return
    server = MongoStandIn(servers_dir / "mongo")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def mongo_uri_options() -> str:
    """The options of `MONGO_URI` (e.g. `?replicaSet=rs0`), kept on every test database's URI."""
    uri = os.environ.get("MONGO_URI", "")
    return f"?{uri.split('?', 1)[1]}" if "?" in uri else ""


@pytest.fixture
def mongo_uri(mongo_server_url: str) -> Iterator[str]:
    """A fresh database for this test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    yield f"{mongo_server_url}/{name}{mongo_uri_options()}"
    client: MongoClient[dict[str, object]] = MongoClient(
        mongo_server_url, serverSelectionTimeoutMS=3000
    )
    try:
        with contextlib.suppress(Exception):  # dropping is a courtesy
            client.drop_database(name)
    finally:
        client.close()


@pytest.fixture
def jwt_key() -> str:
    return TEST_JWT_KEY


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def signin(jwt_key: str) -> Callable[..., dict[str, str]]:
    """Cookies of a signed-in user, without going through auth (the original's `signin()`)."""

    def make(user_id: str | None = None, email: str = "test@test.com") -> dict[str, str]:
        return {COOKIE_NAME: issue_token(user_id or uuid.uuid4().hex[:24], email, jwt_key)}

    return make


@pytest.fixture
def auth(signin: Callable[..., dict[str, str]]) -> Callable[..., dict[str, str]]:
    """Request headers carrying the session cookie of a (new, or the given) user."""

    def make(user_id: str | None = None) -> dict[str, str]:
        cookies = signin(user_id)
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in cookies.items())}

    return make


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """An HTTP client of the service's `app` fixture (which each service's conftest defines,
    started with its lifespan); an unexpected error is a 500 answer, as under uvicorn."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


L = TypeVar("L", bound=Listener[Any])


def listener_of(app: FastAPI, kind: type[L]) -> L:
    """The running `app`'s listener of this class (built with the app's dependencies)."""
    (found,) = [each for each in app.state.listeners if isinstance(each, kind)]
    return found


def outbox_of(app: FastAPI) -> Outbox:
    """The running `app`'s outbox (its relay publishes what writers left behind)."""
    outbox: Outbox | None = app.state.infrastructure.outbox
    assert outbox is not None, "the app publishes nothing"
    return outbox
