"""Revoked sessions reach every service that reads sessions, through the JetStream bucket."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from common.events.publisher import JetStreamPublisher
from common.events.stream import connect_nats
from common.revocation import (
    BUCKET,
    CLOCK_SKEW_MARGIN_SECONDS,
    ensure_revocation_bucket,
    revocation_subject,
    revocation_value,
)
from common.service import ServiceSpec, no_dependencies
from common.session import COOKIE_NAME, RequiredUser, issue_token, read_token
from common.settings import NatsSettings, ServiceSettings
from testsupport.apps import serving
from testsupport.servers import NatsServer

KEY = "revocation-test-key"

router = APIRouter()


@router.get("/private")
async def private(user: RequiredUser) -> dict[str, str]:
    return {"id": user.id}


class ReaderSettings(ServiceSettings, NatsSettings):
    """A service that reads sessions, hence follows their revocations over NATS."""


def make_app(nats_url: str, ttl: int = 3600) -> FastAPI:
    spec = ServiceSpec(
        name="reader",
        settings=ReaderSettings,
        dependencies=no_dependencies,
        routers=[router],
        reads_sessions=True,
    )
    return spec.create_app(ReaderSettings(JWT_KEY=KEY, NATS_URL=nats_url, SESSION_TTL_SECONDS=ttl))


@pytest.fixture
async def start(nats_server: NatsServer) -> AsyncIterator[Any]:
    """Start a session-reading service on the test's NATS; returns an HTTP client of it."""
    async with AsyncExitStack() as stack:

        async def started(ttl: int = 3600) -> httpx.AsyncClient:
            app = make_app(nats_server.url, ttl)
            return await stack.enter_async_context(serving(app, shutdown_timeout=30))

        yield started


async def revoke(nats_url: str, token: str) -> None:
    """Publish a revocation as auth's outbox relay does."""
    claims = read_token(token, KEY)
    assert claims is not None
    nc = await connect_nats(nats_url, "revoker")
    try:
        publisher = JetStreamPublisher(nc, nc.jetstream())
        await publisher.publish(
            revocation_subject(claims.jti), revocation_value(claims.exp), f"revoke-{claims.jti}"
        )
    finally:
        await nc.close()


async def status(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get("/private", headers={"Cookie": f"{COOKIE_NAME}={token}"})
    return response.status_code


async def test_a_revocation_reaches_every_replica_and_later_ones(
    start: Any, nats_server: NatsServer
) -> None:
    first, second = await start(), await start()
    token, other = issue_token("u1", "a@b.com", KEY), issue_token("u1", "a@b.com", KEY)
    assert [await status(first, token), await status(second, token)] == [200, 200]

    await revoke(nats_server.url, token)
    for replica in (first, second):
        await refused_within(replica, token, 2.0)
        assert await status(replica, other) == 200  # only that token is revoked

    # A replica started after the sign-out refuses the token from its first request.
    late = await start()
    assert await status(late, token) == 401
    assert await status(late, other) == 200
    ready = await late.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "nats": True, "sessions": True}


async def refused_within(client: httpx.AsyncClient, token: str, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (code := await status(client, token)) != 401:
        assert code == 200, code
        assert loop.time() < deadline, f"the token is still accepted after {within}s"
        await asyncio.sleep(0.02)


async def test_the_bucket_keeps_entries_longer_than_a_session_lasts(
    nats_server: NatsServer,
) -> None:
    nc = await connect_nats(nats_server.url, "bucket-check")
    js = nc.jetstream()
    try:
        await ensure_revocation_bucket(js, 600)
        info = await js.stream_info(f"KV_{BUCKET}")
        assert info.config.max_age == 600 + CLOCK_SKEW_MARGIN_SECONDS

        # A service configured with a longer lifetime lengthens it ...
        await ensure_revocation_bucket(js, 7200)
        info = await js.stream_info(f"KV_{BUCKET}")
        assert info.config.max_age == 7200 + CLOCK_SKEW_MARGIN_SECONDS
        # ... and one with a shorter lifetime does not shorten it.
        bucket = await ensure_revocation_bucket(js, 600)
        info = await js.stream_info(f"KV_{BUCKET}")
        assert info.config.max_age == 7200 + CLOCK_SKEW_MARGIN_SECONDS
        await bucket.put("some-token-id", b'{"exp": 1}')  # still usable as a bucket
        assert (await bucket.get("some-token-id")).value == b'{"exp": 1}'
    finally:
        await nc.close()


async def test_revocations_made_while_a_service_was_down_are_loaded_at_start(
    start: Any, nats_server: NatsServer
) -> None:
    tokens = [issue_token(f"u{n}", "a@b.com", KEY) for n in range(3)]
    await start()  # creates the bucket
    for token in tokens[:2]:
        await revoke(nats_server.url, token)
    replica = await start()
    assert [await status(replica, token) for token in tokens] == [401, 401, 200]


async def test_a_replica_catches_up_after_nats_comes_back(
    start: Any, nats_server: NatsServer
) -> None:
    replica = await start()
    token = issue_token("u1", "a@b.com", KEY)
    nats_server.stop()
    nats_server.start()
    await revoke(nats_server.url, token)
    await refused_within(replica, token, 10.0)
