"""Fixtures of the expiration tests: a real Redis (one per session, flushed per test) and the
service app with a recording publisher."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis import Redis

from expiration.app import create_app
from expiration.settings import ExpirationSettings
from testsupport.doubles import RecordingPublisher
from testsupport.servers import RedisServer


@pytest.fixture(scope="session")
def redis_server_url(servers_dir: Path) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(servers_dir / "redis")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The test Redis, emptied before the test."""
    client = Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


@pytest.fixture
def settings(redis_url: str) -> ExpirationSettings:
    return ExpirationSettings(REDIS_URL=redis_url, NATS_URL="nats://unused:4222")


@pytest.fixture
async def app(
    settings: ExpirationSettings, publisher: RecordingPublisher
) -> AsyncIterator[FastAPI]:
    """The service running (listener not fetching: no NATS) with a fast-polling worker."""
    application = create_app(settings, publisher, poll_delay=0.05)
    async with LifespanManager(application):
        yield application


Check = Callable[[], bool]
Until = Callable[..., Awaitable[float]]


@pytest.fixture
def until() -> Until:
    """`await until(check, within)`: poll `check()` on the event loop until it is true; returns
    the `time.monotonic()` at which it was first seen true, or fails the test."""

    async def wait(check: Check, within: float = 10.0, interval: float = 0.02) -> float:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if check():
                return time.monotonic()
            await asyncio.sleep(interval)
        raise AssertionError(f"condition not met within {within}s")

    return wait
