"""The expiration service: the order:created listener and the arq worker in one process."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from common.events.publisher import EventPublisher
from common.service import Connections, ServiceSpec, create_service_app, is_ready
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
    )
    app = create_service_app(
        spec,
        Connections(
            nats_url=None if publisher is not None else settings.NATS_URL,
            nats_client_id=settings.NATS_CLIENT_ID,
            publisher=publisher,
        ),
    )
    _install_readiness(app)
    return app


def _install_readiness(app: FastAPI) -> None:
    """`/readyz` that also requires Redis and a running worker.

    The shared probe knows only MongoDB and NATS, so this route is put in front of it.
    """

    async def readyz(request: Request) -> JSONResponse:
        state = request.app.state
        checks = await is_ready(request.app)
        queue: ExpirationQueue | None = getattr(state, "queue", None)
        runner: WorkerRunner | None = getattr(state, "worker", None)
        checks["redis"] = queue is not None and await queue.ping()
        checks["worker"] = runner is not None and runner.running
        ready = all(checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    app.add_api_route("/readyz", readyz, methods=["GET"], include_in_schema=False)
    routes: list[BaseRoute] = app.router.routes
    routes.insert(0, routes.pop())
