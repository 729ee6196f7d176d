"""A service in the test's own process: started with its lifespan, and served to an HTTP client.

Every service suite starts its service the same way (the `app` and `client` fixtures of
`testsupport.plugin`); a test that needs the service otherwise configured, or two of them,
starts its own with these.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

NO_NATS = "nats://unused:4222"
"""`NATS_URL` of a service whose events go to a recording publisher instead (nothing
connects to it)."""


@asynccontextmanager
async def running(app: FastAPI, *, shutdown_timeout: float = 5) -> AsyncIterator[FastAPI]:
    """`app` started (database connected, listeners built, background loops running) until the
    block ends, then stopped as on SIGTERM."""
    async with LifespanManager(app, shutdown_timeout=shutdown_timeout):
        yield app


@asynccontextmanager
async def serving(
    app: FastAPI, base_url: str = "http://test", *, shutdown_timeout: float = 5
) -> AsyncIterator[AsyncClient]:
    """An HTTP client of `app`, which runs while the client is open. An unexpected error is
    a 500 answer, as under uvicorn."""
    async with running(app, shutdown_timeout=shutdown_timeout):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url=base_url) as http:
            yield http
