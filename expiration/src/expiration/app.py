"""The expiration service: the order:created listener and the arq worker in one process."""

from __future__ import annotations

from fastapi import FastAPI

from common.events.publisher import EventPublisher
from common.service import Connections, ServiceSpec, create_service_app
from expiration.events.listeners.order_created import OrderCreatedListener
from expiration.queue import ExpirationQueue
from expiration.settings import ExpirationSettings
from expiration.worker import WorkerRunner


def create_app(
    settings: ExpirationSettings,
    publisher: EventPublisher | None = None,
    *,
    poll_delay: float = 0.5,
) -> FastAPI:
    """The service; `publisher` replaces NATS (tests), `poll_delay` is how often (seconds)
    the worker looks for due jobs."""
    queue = ExpirationQueue(settings.REDIS_URL)
    runner = WorkerRunner(queue, poll_delay=poll_delay)

    async def on_startup(app: FastAPI) -> None:
        app.state.queue = queue
        app.state.worker = runner
        runner.start(app.state.publisher)

    async def on_shutdown(app: FastAPI) -> None:
        await runner.stop()
        await queue.close()

    spec = ServiceSpec(
        name="expiration",
        listeners=[OrderCreatedListener.using(queue)],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        readiness=readiness,
    )
    app = create_service_app(
        spec,
        Connections(
            nats_url=None if publisher is not None else settings.NATS_URL,
            nats_client_id=settings.NATS_CLIENT_ID,
            publisher=publisher,
        ),
    )
    return app


async def readiness(app: FastAPI) -> dict[str, bool]:
    """Ready when Redis answers and the worker runs."""
    queue: ExpirationQueue | None = getattr(app.state, "queue", None)
    runner: WorkerRunner | None = getattr(app.state, "worker", None)
    return {
        "redis": queue is not None and await queue.ping(),
        "worker": runner is not None and runner.running,
    }
