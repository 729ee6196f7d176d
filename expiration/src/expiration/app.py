"""The expiration service: the order:created listener and the arq worker in one process."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from common.events.listener import Listener
from common.events.publisher import EventPublisher
from common.events.subjects import Subjects
from common.observability.metrics import Observation
from common.service import Background, ServiceSpec
from expiration.dependencies import ExpirationDependencies, expiration_dependencies
from expiration.events.listeners.order_created import OrderCreatedListener
from expiration.metrics import job_backlog
from expiration.settings import ExpirationSettings

POLL_DELAY_SECONDS = 0.5


def listeners(dependencies: ExpirationDependencies) -> Sequence[Listener[Any]]:
    return [OrderCreatedListener(dependencies.queue)]


def background(dependencies: ExpirationDependencies) -> Sequence[Background]:
    return [dependencies.worker.run]


async def readiness(dependencies: ExpirationDependencies) -> dict[str, bool]:
    return await dependencies.readiness()


def observe(dependencies: ExpirationDependencies) -> Sequence[tuple[str, Observation]]:
    return [("redis", job_backlog(dependencies.queue))]


def service(
    poll_delay: float = POLL_DELAY_SECONDS,
) -> ServiceSpec[ExpirationSettings, ExpirationDependencies]:
    return ServiceSpec(
        name="expiration",
        settings=ExpirationSettings,
        dependencies=expiration_dependencies(poll_delay),
        listeners=listeners,
        background=background,
        readiness=readiness,
        observe=observe,
        publishes=[Subjects.EXPIRATION_COMPLETE],
    )


SERVICE = service()


def create_app(
    settings: ExpirationSettings,
    publisher: EventPublisher | None = None,
    *,
    poll_delay: float = POLL_DELAY_SECONDS,
) -> FastAPI:
    """The service; `publisher` replaces NATS (tests), `poll_delay` is how often (seconds)
    the worker looks for due jobs."""
    return service(poll_delay).create_app(settings, publisher=publisher)
