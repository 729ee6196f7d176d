"""What the client's pages are given, built once at start-up: the HTTP client of the API,
the keys of its forms and of Stripe.js, and the event stream of its live pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import Request

from client.live import LiveFeed
from client.settings import ClientSettings
from common.service import Infrastructure, dependencies_of


@dataclass
class ClientDependencies:
    http: httpx.AsyncClient
    """The API (the ingress), as server-side rendering reaches it."""
    csrf_secret: str
    stripe_key: str | None
    """Stripe.js collects the card when set; else the pages pay with a test card."""
    live: LiveFeed
    """The event stream, for live pages (connected in the background when configured)."""


def client_dependencies(
    transport: httpx.AsyncBaseTransport | None,
) -> Callable[[ClientSettings, Infrastructure], AbstractAsyncContextManager[ClientDependencies]]:
    @asynccontextmanager
    async def build(
        settings: ClientSettings, _: Infrastructure
    ) -> AsyncIterator[ClientDependencies]:
        async with httpx.AsyncClient(
            base_url=settings.API_BASE_URL,
            transport=transport,
            timeout=settings.API_TIMEOUT_SECONDS,
            follow_redirects=False,
        ) as http:
            yield ClientDependencies(
                http,
                settings.JWT_KEY,
                settings.STRIPE_PUBLISHABLE_KEY,
                LiveFeed(settings.NATS_URL, settings.NATS_CLIENT_ID),
            )

    return build


def client_of(request: Request) -> ClientDependencies:
    return dependencies_of(request, ClientDependencies)
