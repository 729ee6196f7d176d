"""What the benchmarks share: the real servers the tests use, a service in-process, timing
figures and a plain-text table."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pymongo import MongoClient

from common.session import COOKIE_NAME, issue_token
from testsupport.servers import MongoStandIn

JWT_KEY = "bench-jwt-key"


@dataclass(frozen=True)
class Figures:
    """Latencies of one measurement, in seconds."""

    samples: Sequence[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        """The 95th percentile (interpolated; with few samples, close to the maximum)."""
        if len(self.samples) < 2:
            return self.samples[0]
        return statistics.quantiles(self.samples, n=20, method="inclusive")[18]

    def ms(self) -> tuple[str, str]:
        return f"{self.median * 1000:.1f}", f"{self.p95 * 1000:.1f}"


async def measure(call: Callable[[], Awaitable[object]], runs: int, warmup: int = 2) -> Figures:
    """Time `runs` sequential calls of `call` after `warmup` untimed ones."""
    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return Figures(samples)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table: the first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest])

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *[line(row) for row in cells[1:]]])


@dataclass(frozen=True)
class MongoServer:
    url: str
    """`mongodb://host:port`, no database."""
    stand_in: MongoStandIn | None
    """The stand-in's process when it is the one measured against."""


@contextmanager
def mongo_server(workdir: Path) -> Iterator[MongoServer]:
    """The server to measure against: the one `MONGO_URI` names (e.g. a real MongoDB), else
    the embedded stand-in the tests use, started in `workdir`."""
    if os.environ.get("MONGO_URI"):
        scheme, _, rest = os.environ["MONGO_URI"].split("?")[0].partition("://")
        yield MongoServer(f"{scheme}://{rest.split('/')[0]}", None)
        return
    server = MongoStandIn(workdir / "mongo")
    server.die_with_parent = True
    server.start()
    try:
        yield MongoServer(server.url, server)
    finally:
        server.stop()


def using_stand_in() -> bool:
    return not os.environ.get("MONGO_URI")


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-") as path:
        yield Path(path)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """The URI of a new database on `server_url`, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{server_url}/{name}"
    finally:
        client: MongoClient[dict[str, object]] = MongoClient(
            server_url, serverSelectionTimeoutMS=3000
        )
        try:
            client.drop_database(name)
        finally:
            client.close()


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[AsyncClient]:
    """An HTTP client of `app` in this process, with its lifespan started (as the tests do)."""
    async with LifespanManager(app):
        transport = ASGITransport(app=app, raise_app_exceptions=False)
        async with AsyncClient(transport=transport, base_url="http://bench") as http:
            yield http


def session_headers(user_id: str | None = None) -> dict[str, str]:
    """Headers carrying the session cookie of a (new, or the given) signed-in user."""
    token = issue_token(user_id or uuid.uuid4().hex[:24], "bench@test.com", JWT_KEY)
    return {"Cookie": f"{COOKIE_NAME}={token}"}


def heading(title: str) -> None:
    print(f"\n== {title} ==", flush=True)
