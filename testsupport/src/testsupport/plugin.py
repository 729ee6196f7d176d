"""Pytest fixtures for every service's tests (loaded with `-p testsupport.plugin`).

Real NATS (JetStream) and the Mongo stand-in start once per test session on free ports in a
temporary directory, only if a test asks for them. When `NATS_URL` / `MONGO_URI` are set,
those servers are used instead (GitHub Actions points them at real MongoDB 7 and NATS).
Each test gets its own database, dropped afterwards.

A service's suite names its service and settings (fixtures `service` and `settings` in its
conftest); `app` is then that service started with a recording `publisher`, `client` an HTTP
client of it, and `deliver` hands events to its listeners.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest
from beanie import Document
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pymongo import MongoClient

from common.events.listener import Listener
from common.events.schemas import Event
from common.outbox import Outbox
from common.service import ServiceSpec
from common.session import COOKIE_NAME, issue_token
from testsupport.apps import running
from testsupport.browser import launch_chromium
from testsupport.doubles import FakeMsg, RecordingPublisher
from testsupport.servers import MongoStandIn, NatsServer, server_url

if TYPE_CHECKING:
    from playwright.sync_api import Browser

TEST_JWT_KEY = "test-jwt-key"


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def nats_url(servers_dir: Path) -> Iterator[str]:
    with server_url("NATS_URL", lambda: NatsServer(servers_dir / "nats")) as url:
        yield url


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server (JetStream) of this test's own: its streams and consumers start empty,
    and the test may stop and restart it (its store survives `stop()` / `start()`)."""
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mongo_server_url(servers_dir: Path) -> Iterator[str]:
    """`mongodb://host:port` of the test Mongo server (no database name)."""
    with server_url("MONGO_URI", lambda: MongoStandIn(servers_dir / "mongo")) as url:
        scheme, _, rest = url.split("?")[0].partition("://")
        yield f"{scheme}://{rest.split('/')[0]}"


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
async def app(
    service: ServiceSpec[Any, Any], settings: Any, publisher: RecordingPublisher
) -> AsyncIterator[FastAPI]:
    """The suite's `service` with its `settings` (fixtures of the suite's conftest), started
    on a fresh database; what it publishes goes to the recording `publisher`."""
    async with running(service.create_app(settings, publisher=publisher)) as started:
        yield started


@pytest.fixture
def unstarted_app(
    service: ServiceSpec[Any, Any], settings: Any, publisher: RecordingPublisher
) -> FastAPI:
    """The suite's `service` with its `settings`, built but not started (schemathesis starts
    the apps it fuzzes on a loop of its own); what it publishes goes to `publisher`."""
    return service.create_app(settings, publisher=publisher)


@pytest.fixture
def base_url() -> str:
    """Where `client` sends its requests (the host the service sees)."""
    return "http://test"


@pytest.fixture
async def client(app: FastAPI, base_url: str) -> AsyncIterator[AsyncClient]:
    """An HTTP client of the running `app`; an unexpected error is a 500 answer, as under
    uvicorn."""
    transport = ASGITransport(app=app, raise_app_exceptions=False)
    async with AsyncClient(transport=transport, base_url=base_url) as http:
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


class Deliver(Protocol):
    async def __call__(
        self, event: Event | dict[str, Any] | bytes, to: type[Listener[Any]], delivered: int = 1
    ) -> FakeMsg: ...


@pytest.fixture
def deliver(app: FastAPI) -> Deliver:
    """`await deliver(event, to=SomeListener)`: JetStream delivering `event` (for the
    `delivered`-th time) to the running `app`'s listener of that class. Returns the message,
    which records whether the listener acked, nak'ed or terminated it."""

    async def handle(
        event: Event | dict[str, Any] | bytes, to: type[Listener[Any]], delivered: int = 1
    ) -> FakeMsg:
        msg = FakeMsg.of(event, delivered)
        await listener_of(app, to).handle(msg)
        return msg

    return handle


DocumentT = TypeVar("DocumentT", bound=Document)


async def stored(model: type[DocumentT], document_id: Any) -> DocumentT:
    """The document of `model` stored under `document_id` now (read again from the
    database); fails the test if there is none."""
    found = await model.get(document_id)
    assert found is not None, f"no {model.__name__} {document_id} is stored"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, one per test module (see `testsupport.browser`)."""
    with launch_chromium() as launched:
        yield launched
