"""Shared fixtures of the integration tests: our services as real processes (`python -m
<service>`) against real NATS and the Mongo stand-in (or the servers `NATS_URL` / `MONGO_URI`
point at, for Mongo)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
from pymongo import MongoClient

from devstack.platform import StripeStandIn
from testsupport.servers import NatsServer, RedisServer, ServiceProcess, free_port

StartService = Callable[..., ServiceProcess]


@pytest.fixture
def start_service(
    nats_server: NatsServer, mongo_server_url: str, jwt_key: str, tmp_path: Path
) -> Iterator[StartService]:
    """Start a service as a process, configured as the contract says, and wait until ready.

    `start_service("orders", {"EXPIRATION_WINDOW_SECONDS": "5"})`: `JWT_KEY`, `NATS_URL`,
    `NATS_CLIENT_ID` and `MONGO_URI` (a fresh database of its own) are set; the mapping adds
    or overrides variables. Everything started is stopped, and its databases dropped, at
    the end; a failing test shows the tail of each service's log.
    """
    started: list[ServiceProcess] = []
    databases: list[str] = []

    def start(
        name: str, env: Mapping[str, str] | None = None, *, wait_ready: bool = True
    ) -> ServiceProcess:
        database = f"it_{name}_{uuid.uuid4().hex[:8]}"
        databases.append(database)
        defaults = {
            "JWT_KEY": jwt_key,
            "NATS_URL": nats_server.url,
            "NATS_CLIENT_ID": f"{name}-{uuid.uuid4().hex[:6]}",
            "MONGO_URI": f"{mongo_server_url}/{database}",
            "COOKIE_SECURE": "false",
        }
        service = ServiceProcess(name, tmp_path / "logs", {**defaults, **(env or {})})
        started.append(service)
        service.start(wait_ready=wait_ready)
        return service

    yield start

    for service in started:
        service.stop()
        print(f"--- {service.name} log (tail) ---\n{service.log_tail(30)}")
    client: MongoClient[dict[str, object]] = MongoClient(
        mongo_server_url, serverSelectionTimeoutMS=3000
    )
    try:
        with contextlib.suppress(Exception):  # dropping is a courtesy
            for database in databases:
                client.drop_database(database)
    finally:
        client.close()


# --- expiration and payments (tests/integration/test_expiration_payments.py) -------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of this test's own (the expiration service's job store)."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stripe_standin(tmp_path: Path) -> Iterator[StripeStandIn]:
    """The devstack Stripe stand-in (localstripe on loopback), its store in this test's dir;
    `.url` is the `STRIPE_API_BASE` to give payments."""
    server = StripeStandIn(tmp_path, free_port())
    server.start()
    yield server
    server.stop()
