"""One way to build and run every service: production, `make dev` and tests alike.

A service describes itself once, as a `ServiceSpec`: its settings, its documents, routers
and listeners, and a factory of its own dependencies (a Stripe gateway, a job queue, its
service object). `ServiceSpec.create_app` builds the FastAPI app; its lifespan connects what
the service uses (MongoDB when its settings have `MONGO_URI`, NATS when they have
`NATS_URL`), binds the outbox, follows the revoked sessions (a service that reads sessions
serves nothing before it has loaded them), builds the service's dependencies, and runs its
listeners and background loops. On shutdown (SIGTERM via uvicorn) it stops fetching, lets
the event in hand finish, clears what was published, drains NATS and closes the database.

Every service is observable the same way (`common.observability`): `GET /metrics`, HTTP
metrics by route template, log lines with the request's id, a span per request when tracing is
on (`OTEL_*`), and the admin commands over NATS (`common.admin.responder`).

Routes reach the service's dependencies through typed `Annotated[..., Depends(...)]` aliases
(each service's `dependencies.py`), overridable in tests with `app.dependency_overrides`;
listeners receive theirs in their constructor.

`main(spec)` is every service's entry point (`python -m <service>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import uvicorn
from beanie import Document
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pymongo import AsyncMongoClient
from starlette.datastructures import State

from common.admin import responder
from common.apidocs import create_fastapi_app
from common.database import connect_database
from common.errors import install_error_handlers
from common.events.listener import Listener
from common.events.publisher import EventPublisher, JetStreamPublisher
from common.events.stream import connect_nats, ensure_stream
from common.events.subjects import Subjects
from common.observability import observations
from common.observability.logs import RequestLogContext, configure_logging
from common.observability.metrics import (
    HttpMetricsMiddleware,
    Observation,
    Observer,
    metrics_router,
)
from common.observability.tracing import configure_tracing, instrument_app
from common.outbox import Outbox, OutboxDocument
from common.revocation import RevocationWatcher
from common.routing import include_flattened
from common.session import SessionReader
from common.settings import (
    MongoSettings,
    NatsSettings,
    ProcessSettings,
    ServiceSettings,
    load_settings,
)
from common.text import reject_invalid_text

logger = logging.getLogger(__name__)

S = TypeVar("S", bound=ProcessSettings)
D = TypeVar("D")

Background = Callable[[asyncio.Event], Coroutine[Any, Any, None]]
"""A loop a service runs beside its listeners until the event is set (e.g. a reconciler)."""


@dataclass
class Infrastructure:
    """What the lifespan connected, handed to a service's dependency factory."""

    mongo: AsyncMongoClient[Any] | None = None
    nats: NatsClient | None = None
    js: JetStreamContext | None = None
    publisher: EventPublisher | None = None
    outbox: Outbox | None = None
    sessions: SessionReader | None = None


@asynccontextmanager
async def no_dependencies(_: Any, __: Infrastructure) -> AsyncIterator[None]:
    yield None


def no_listeners(_: Any) -> Sequence[Listener[Any]]:
    return ()


def no_background(_: Any) -> Sequence[Background]:
    return ()


@dataclass(frozen=True)
class ServiceSpec(Generic[S, D]):
    """What a service is made of; the same for production, local runs and tests."""

    name: str
    settings: type[S]
    dependencies: Callable[[S, Infrastructure], AbstractAsyncContextManager[D]]
    """Builds the service's own dependencies when it starts, and closes them when it stops
    (`no_dependencies` for a service without any)."""
    document_models: Sequence[type[Document]] = ()
    routers: Sequence[APIRouter] = ()
    listeners: Callable[[D], Sequence[Listener[Any]]] = no_listeners
    background: Callable[[D], Sequence[Background]] = no_background
    readiness: Callable[[D], Awaitable[dict[str, bool]]] | None = None
    """Checks of the service's own dependencies, added to `/readyz` (the database, NATS and
    the revoked sessions are checked for every service that uses them)."""
    reads_sessions: bool = False
    """The service accepts session cookies, so it follows the revoked sessions (over NATS)."""
    configure: Callable[[FastAPI, S], None] | None = None
    """Adds what the API services do not have (the web client's pages, static files)."""
    api_prefix: str | None = None
    """Where the service's API is behind the ingress (`/api/tickets`): its OpenAPI document
    and docs page are served under it (`/api/tickets/docs`), so the ingress routes them
    (see `common.apidocs`)."""
    publishes: Sequence[Subjects] = ()
    """The subjects of the events the service publishes (its listeners say what it receives).
    The AsyncAPI document (`docs/asyncapi.yaml`) is made from both; a test checks this list
    against the events the service's code makes."""
    observe: Callable[[D], Sequence[tuple[str, Observation]]] = lambda _: ()
    """The service's own gauges, brought up to date at each scrape of `/metrics` (consumer
    lag, stream use and the outbox backlog are observed for every service)."""
    admin_commands: Callable[[D], Mapping[str, responder.AdminCommand]] = lambda _: {}
    """Commands of `ticketing-admin` the service answers over NATS, beside `outbox`."""

    def create_app(
        self,
        settings: S,
        *,
        publisher: EventPublisher | None = None,
        outbox_grace: float = 5.0,
    ) -> FastAPI:
        """The service's app. A `publisher` given here replaces NATS (tests): events go to
        it, and nothing listens."""
        return _create_app(self, settings, publisher, outbox_grace)


def _create_app(
    spec: ServiceSpec[S, D], settings: S, publisher: EventPublisher | None, outbox_grace: float
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _Running(spec, settings, app.state) as running:
            await running.connect(publisher)
            await running.start_outbox(outbox_grace)
            await running.follow_sessions()
            await running.start_service()
            await running.start_operations()
            logger.info("%s started", spec.name)
            yield

    app = create_fastapi_app(
        spec.name, spec.api_prefix, lifespan=lifespan, dependencies=[Depends(reject_invalid_text)]
    )
    install_error_handlers(app)
    routes = APIRouter()
    routes.include_router(health_router())
    routes.include_router(metrics_router(lambda: getattr(app.state, "observer", None)))
    for router in spec.routers:
        routes.include_router(router)
    include_flattened(app, routes)  # the app's own routes: one level to match a request on
    app.add_middleware(HttpMetricsMiddleware, service=spec.name)
    app.add_middleware(RequestLogContext)
    instrument_app(app, spec.name)
    if spec.configure is not None:
        spec.configure(app, settings)
    return app


class _Running(Generic[S, D]):
    """A running service: what its lifespan connected and started, stopped in reverse."""

    def __init__(self, spec: ServiceSpec[S, D], settings: S, state: State) -> None:
        self.spec, self.settings, self.state = spec, settings, state
        self.infrastructure = Infrastructure()
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.stack = contextlib.AsyncExitStack()
        state.settings = settings
        state.infrastructure = self.infrastructure
        state.readiness = None

    async def __aenter__(self) -> _Running[S, D]:
        await self.stack.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.stop.set()
        started = asyncio.get_running_loop().time()
        if self.tasks:
            _, still_running = await asyncio.wait(self.tasks, timeout=15)
            for task in still_running:
                task.cancel()
        await self.stack.__aexit__(*exc_info)
        stopped_in = asyncio.get_running_loop().time() - started
        logger.info("%s stopped in %.1fs", self.spec.name, stopped_in)

    def run(self, work: Coroutine[Any, Any, None]) -> None:
        self.tasks.append(asyncio.create_task(work))

    async def connect(self, publisher: EventPublisher | None) -> None:
        """MongoDB when the settings name one; NATS (and the stream) unless `publisher`."""
        infrastructure, settings = self.infrastructure, self.settings
        if isinstance(settings, MongoSettings):
            mongo = await connect_database(settings.MONGO_URI, list(self.spec.document_models))
            infrastructure.mongo = mongo
            self.stack.push_async_callback(mongo.close)
        infrastructure.publisher = publisher
        if publisher is None and isinstance(settings, NatsSettings):
            nc = await connect_nats(settings.NATS_URL, settings.NATS_CLIENT_ID)
            self.stack.push_async_callback(_drain, nc)
            js = nc.jetstream()
            await ensure_stream(js, settings)
            infrastructure.nats, infrastructure.js = nc, js
            infrastructure.publisher = JetStreamPublisher(nc, js, service=self.spec.name)

    async def start_outbox(self, grace: float) -> None:
        """Writes of the outbox documents publish their events; the relay runs."""
        publisher = self.infrastructure.publisher
        models = [m for m in self.spec.document_models if issubclass(m, OutboxDocument)]
        if publisher is None or not models:
            return
        outbox = Outbox(publisher, models, grace=grace)
        await outbox.bind()
        self.stack.callback(outbox.unbind)
        self.infrastructure.outbox = outbox
        self.run(outbox.run(self.stop))

    async def follow_sessions(self) -> None:
        """Read session cookies; a service that reads sessions loads the revoked ones first."""
        settings, infrastructure = self.settings, self.infrastructure
        if not isinstance(settings, ServiceSettings):
            return
        sessions = SessionReader(settings.JWT_KEY, settings.SESSION_TTL_SECONDS)
        infrastructure.sessions = self.state.sessions = sessions
        if self.spec.reads_sessions and infrastructure.nats is not None:
            sessions.watcher = RevocationWatcher(
                infrastructure.nats, sessions.revoked, settings.SESSION_TTL_SECONDS
            )
            self.run(sessions.watcher.run(self.stop))
            await sessions.watcher.loaded.wait()

    async def start_service(self) -> None:
        """The service's own dependencies, its listeners and background loops."""
        spec = self.spec
        dependencies = await self.stack.enter_async_context(
            spec.dependencies(self.settings, self.infrastructure)
        )
        self.state.dependencies = dependencies
        if spec.readiness is not None:
            readiness = spec.readiness
            self.state.readiness = lambda: readiness(dependencies)
        self.state.listeners = list(spec.listeners(dependencies))
        js = self.infrastructure.js
        if js is not None:
            for listener in self.state.listeners:
                self.run(listener.run(js, self.stop, self.infrastructure.nats))
        for background in spec.background(dependencies):
            self.run(background(self.stop))

    async def start_operations(self) -> None:
        """What `/metrics` observes before a scrape, and the admin commands over NATS."""
        spec, infrastructure = self.spec, self.infrastructure
        dependencies = self.state.dependencies
        observer = Observer(spec.name, spec.observe(dependencies))
        commands = dict(spec.admin_commands(dependencies))
        outbox = infrastructure.outbox
        if outbox is not None:
            observer.add("outbox", observations.outbox_backlog(spec.name, outbox.models))
            commands["outbox"] = responder.outbox_command(outbox.models)
        if infrastructure.js is not None:
            js = infrastructure.js
            observer.add("consumers", observations.consumer_lag(spec.name, js, self.listeners))
            observer.add("streams", observations.stream_usage(spec.name, js))
        self.state.observer = observer
        if infrastructure.nats is not None and commands:
            await responder.answer(infrastructure.nats, spec.name, commands)

    @property
    def listeners(self) -> list[Listener[Any]]:
        return list(getattr(self.state, "listeners", []))


async def _drain(nc: NatsClient) -> None:
    try:
        await asyncio.wait_for(nc.drain(), timeout=5)
    except Exception as error:
        logger.warning("NATS drain did not finish (%r); closing", error)
        with contextlib.suppress(Exception):
            await nc.close()


async def is_ready(app: FastAPI) -> dict[str, bool]:
    checks: dict[str, bool] = {}
    infrastructure: Infrastructure | None = getattr(app.state, "infrastructure", None)
    if infrastructure is None:
        return {"started": False}
    if infrastructure.mongo is not None:
        try:
            await asyncio.wait_for(infrastructure.mongo.admin.command("ping"), timeout=2)
            checks["database"] = True
        except Exception:
            checks["database"] = False
    if infrastructure.nats is not None:
        checks["nats"] = infrastructure.nats.is_connected
    sessions = infrastructure.sessions
    if sessions is not None and sessions.watcher is not None:
        checks["sessions"] = sessions.watcher.loaded.is_set()
    service_checks: Callable[[], Awaitable[dict[str, bool]]] | None = app.state.readiness
    if service_checks is not None:
        checks.update(await service_checks())
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


def dependencies_of(request: Request, kind: type[D]) -> D:
    """The running service's dependencies (built by its `ServiceSpec.dependencies`), typed."""
    dependencies = request.app.state.dependencies
    if not isinstance(dependencies, kind):
        raise TypeError(f"the app's dependencies are {type(dependencies)}, not {kind}")
    return dependencies


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run `app` with uvicorn; SIGTERM ends it through the lifespan's graceful shutdown.

    uvloop and httptools (the event loop and HTTP parser written in C); no access log: a log
    line per request cost an eighth of a service's CPU (the ingress logs every request)."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        timeout_graceful_shutdown=20,
        loop="uvloop",
        http="httptools",
        access_log=False,
    )


YOUNG_GARBAGE_THRESHOLD = 10_000
"""Allocations (net of frees) between two collections of the youngest generation; Python's
default, 700, ran one every few ticket writes."""


def collect_garbage_less() -> None:
    """Fewer and cheaper cycle collections in a serving process: what was made while starting
    (modules, models, schemas: about 100,000 objects) is never garbage, so it is kept out of
    every collection (`gc.freeze`), and the youngest generation is collected less often.
    Almost everything a request makes is freed as soon as it is no longer referenced; the
    collector is only for cycles. Under POST /api/tickets load the collections took about 6 %
    of the service's CPU."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GARBAGE_THRESHOLD, older, oldest)


def main(spec: ServiceSpec[Any, Any]) -> None:
    """`python -m <service>`: read the settings from the environment (a missing variable
    stops it with one line naming it) and serve."""
    settings = load_settings(spec.settings)
    configure_logging(spec.name, settings.LOG_LEVEL, settings.LOG_FORMAT)
    configure_tracing(spec.name)
    app = spec.create_app(settings)
    collect_garbage_less()
    serve(app, host=settings.HOST, port=settings.PORT)
