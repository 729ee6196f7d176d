"""One way for every service to start: database, NATS, listeners, outbox relay, probes.

`create_service_app` builds the FastAPI app; its lifespan connects what the service uses,
starts its listeners and the outbox relay, and on shutdown (SIGTERM via uvicorn) stops
fetching, lets the event in hand finish, drains NATS and closes the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from beanie import Document
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NATS
from pymongo import AsyncMongoClient

from common.database import OutboxDocument, connect_database
from common.errors import install_error_handlers
from common.events.listener import Listener
from common.events.publisher import EventPublisher, JetStreamPublisher
from common.events.stream import connect_nats, ensure_stream
from common.outbox import OutboxRelay

logger = logging.getLogger(__name__)


@dataclass
class ServiceSpec:
    """What a service is made of; the same for production, local runs and tests."""

    name: str
    document_models: list[type[Document]] = field(default_factory=list)
    routers: list[APIRouter] = field(default_factory=list)
    listeners: list[type[Listener[Any]]] = field(default_factory=list)
    on_startup: Callable[[FastAPI], Awaitable[None]] | None = None
    on_shutdown: Callable[[FastAPI], Awaitable[None]] | None = None
    readiness: Callable[[FastAPI], Awaitable[dict[str, bool]]] | None = None
    """Checks of the service's own dependencies, added to `/readyz` (database and NATS are
    checked for every service that uses them)."""


@dataclass
class Connections:
    """Where a service's dependencies are. A `publisher` given here replaces NATS (tests)."""

    jwt_key: str = ""
    mongo_uri: str | None = None
    nats_url: str | None = None
    nats_client_id: str = "local"
    publisher: EventPublisher | None = None
    relay_interval: float = 1.0
    extra: dict[str, Any] = field(default_factory=dict)


def create_service_app(spec: ServiceSpec, connections: Connections) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        state.jwt_key = connections.jwt_key
        state.readiness = spec.readiness
        state.mongo = None
        state.nats = None
        state.js = None
        for key, value in connections.extra.items():
            setattr(state, key, value)
        stop = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []

        if connections.mongo_uri:
            state.mongo = await connect_database(connections.mongo_uri, spec.document_models)

        publisher = connections.publisher
        if publisher is None and connections.nats_url:
            nc = await connect_nats(connections.nats_url, connections.nats_client_id)
            js = nc.jetstream()
            await ensure_stream(js)
            state.nats, state.js = nc, js
            publisher = JetStreamPublisher(nc, js)
        state.publisher = publisher

        outbox_models = [m for m in spec.document_models if issubclass(m, OutboxDocument)]
        state.relay = (
            OutboxRelay(publisher, outbox_models, connections.relay_interval)
            if publisher is not None
            else None
        )
        state.listeners = [listener(state.relay) for listener in spec.listeners]
        if state.js is not None:
            tasks += [
                asyncio.create_task(lst.run(state.js, stop, state.nats)) for lst in state.listeners
            ]
            if state.relay is not None and outbox_models:
                tasks.append(asyncio.create_task(state.relay.run(stop)))
        if spec.on_startup:
            await spec.on_startup(app)
        logger.info("%s started", spec.name)
        try:
            yield
        finally:
            stop.set()
            if spec.on_shutdown:
                await spec.on_shutdown(app)
            started = asyncio.get_running_loop().time()
            if tasks:
                _, still_running = await asyncio.wait(tasks, timeout=10)
                for task in still_running:
                    task.cancel()
            if state.nats is not None:
                try:
                    await asyncio.wait_for(state.nats.drain(), timeout=5)
                except Exception as error:
                    logger.warning("NATS drain did not finish (%r); closing", error)
                    with contextlib.suppress(Exception):
                        await state.nats.close()
            if state.mongo is not None:
                await state.mongo.close()
            logger.info(
                "%s stopped in %.1fs", spec.name, asyncio.get_running_loop().time() - started
            )

    app = FastAPI(title=spec.name, lifespan=lifespan, docs_url=None, redoc_url=None)
    install_error_handlers(app)
    app.include_router(health_router())
    for router in spec.routers:
        app.include_router(router)
    return app


async def is_ready(app: FastAPI) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    mongo: AsyncMongoClient[Any] | None = getattr(app.state, "mongo", None)
    if mongo is not None:
        try:
            await asyncio.wait_for(mongo.admin.command("ping"), timeout=2)
            checks["database"] = True
        except Exception:
            checks["database"] = False
    nc: NATS | None = getattr(app.state, "nats", None)
    if nc is not None:
        checks["nats"] = nc.is_connected
    service_checks = getattr(app.state, "readiness", None)
    if service_checks is not None:
        checks.update(await service_checks(app))
    return checks


def health_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        checks = await is_ready(request.app)
        ready = all(checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    return router


def configure_logging(service: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run `app` with uvicorn; SIGTERM ends it through the lifespan's graceful shutdown."""
    uvicorn.run(app, host=host, port=port, log_config=None, timeout_graceful_shutdown=20)
