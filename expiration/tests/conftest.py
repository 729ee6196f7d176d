"""Fixtures of the expiration tests: a real Redis (one per session, flushed per test) and the
service with a recording publisher (`app` and `deliver` come from `testsupport.plugin`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from common.service import ServiceSpec
from expiration.app import service as expiration_service
from expiration.settings import ExpirationSettings
from testsupport.apps import NO_NATS
from testsupport.servers import RedisServer, server_url


@pytest.fixture(scope="session")
def redis_server_url(servers_dir: Path) -> Iterator[str]:
    with server_url("REDIS_URL", lambda: RedisServer(servers_dir / "redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The test Redis, emptied before the test."""
    client = Redis.from_url(redis_server_url)
    client.flushdb()
    client.close()
    return redis_server_url


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[AsyncRedis]:
    """A client of the test Redis, to look at the jobs the service stored there."""
    client = AsyncRedis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def service() -> ServiceSpec[Any, Any]:
    """The service with a fast-polling worker (its listener does not fetch: no NATS)."""
    return expiration_service(poll_delay=0.05)


@pytest.fixture
def settings(redis_url: str) -> ExpirationSettings:
    return ExpirationSettings(REDIS_URL=redis_url, NATS_URL=NO_NATS)


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
