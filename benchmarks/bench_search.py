"""Title search as the catalogue grows (`GET /api/tickets?q=&limit=&after=`), against the
tickets service in-process: a word found in few titles, one found in half of them, and two
words together, each as a first page and as a page deep in its results.

Self-contained on purpose (its own small helpers): `python -m benchmarks.bench_search`.
On MongoDB (`MONGO_URI`) a page should cost the same at every size: the index
`title_words_by_id` (`words`, `_id`) gives one word's tickets in `_id` order from `after` on.
The embedded stand-in has the index on `words` alone and no index for a range on `_id`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager
from bson import ObjectId
from httpx import ASGITransport, AsyncClient
from pymongo import MongoClient

from testsupport.doubles import RecordingPublisher
from testsupport.servers import MongoStandIn
from tickets.app import create_app
from tickets.models import UNRESERVED, Ticket
from tickets.settings import TicketsSettings
from tickets.title_words import words_of

SIZES = (1_000, 10_000)
PAGE = 20
RUNS = 20
SEED_BATCH = 1_000
RARE_EVERY = 40
"""One title in this many has the word `rare`; every other one has `common`."""


def title(n: int) -> str:
    words = ["concert", f"seat{n}"]
    if n % 2 == 0:
        words.append("common")
    if n % RARE_EVERY == 0:
        words.append("rare")
    return " ".join(words)


async def seed(count: int) -> None:
    """Insert `count` tickets for sale straight into the database, with their words."""
    collection = Ticket.get_pymongo_collection()
    for start in range(0, count, SEED_BATCH):
        await collection.insert_many(
            [
                {
                    "_id": ObjectId(),
                    "title": title(n),
                    "words": words_of(title(n)),
                    "price_cents": 2000,
                    "user_id": "0123456789abcdef01234567",
                    "version": 0,
                    "order_id": None,
                    "held_by": [],
                    "released": [],
                    "outbox": [],
                }
                for n in range(start, min(start + SEED_BATCH, count))
            ]
        )


async def matching_ids(words: list[str]) -> list[ObjectId]:
    query = {"words": {"$all": words}, **UNRESERVED}
    found = await Ticket.get_pymongo_collection().find(query, {"_id": 1}).sort("_id", 1).to_list()
    return [document["_id"] for document in found]


async def timed(http: AsyncClient, url: str) -> tuple[float, float]:
    """Median and p95 latency in ms of GET `url` (which must answer a full page)."""
    samples = []
    for run in range(RUNS + 2):
        started = time.perf_counter()
        response = await http.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or len(response.json()) != PAGE:
            raise RuntimeError(f"GET {url}: {response.status_code}, {response.text[:200]}")
        if run >= 2:  # warm-up
            samples.append(elapsed)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def plan_of(plan: dict[str, Any]) -> str:
    winning = plan.get("queryPlanner", {}).get("winningPlan")
    if isinstance(winning, list):  # the stand-in: SQLite's plan rows
        return "; ".join(str(step.get("detail", step)) for step in winning)
    stages = []
    while isinstance(winning, dict):
        stage = str(winning.get("stage", "?"))
        if winning.get("indexName"):
            stage += f" {winning['indexName']}"
        stages.append(stage)
        winning = winning.get("inputStage") or (winning.get("inputStages") or [None])[0]
    return " <- ".join(stages) or "(no plan)"


@contextmanager
def mongo_server(workdir: Path) -> Iterator[str]:
    if os.environ.get("MONGO_URI"):
        scheme, _, rest = os.environ["MONGO_URI"].split("?")[0].partition("://")
        yield f"{scheme}://{rest.split('/')[0]}"
        return
    server = MongoStandIn(workdir)
    server.die_with_parent = True
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@asynccontextmanager
async def tickets_service(server_url: str) -> AsyncIterator[AsyncClient]:
    name = f"bench_search_{uuid.uuid4().hex[:12]}"
    settings = TicketsSettings(
        JWT_KEY="bench-jwt-key", MONGO_URI=f"{server_url}/{name}", NATS_URL="nats://unused"
    )
    app = create_app(settings, publisher=RecordingPublisher())
    try:
        async with LifespanManager(app):
            transport = ASGITransport(app=app, raise_app_exceptions=False)
            async with AsyncClient(transport=transport, base_url="http://bench") as http:
                yield http
    finally:
        client: MongoClient[dict[str, Any]] = MongoClient(server_url)
        client.drop_database(name)
        client.close()


QUERIES = {"rare word": ["rare"], "common word": ["common"], "two words": ["common", "rare"]}


async def measure_size(server_url: str, size: int) -> list[list[str]]:
    rows = []
    async with tickets_service(server_url) as http:
        await seed(size)
        for name, words in QUERIES.items():
            ids = await matching_ids(words)
            q = "+".join(words)
            deep_after = str(ids[-PAGE - 1])
            for page, url in (
                ("first page", f"/api/tickets?q={q}&limit={PAGE}"),
                ("deep page", f"/api/tickets?q={q}&limit={PAGE}&after={deep_after}"),
            ):
                median, p95 = await timed(http, url)
                rows.append([f"{size:,}", name, str(len(ids)), page, f"{median:.1f}", f"{p95:.1f}"])
        if size == SIZES[-1]:
            collection = Ticket.get_pymongo_collection()
            for page, extra in (("first", {}), ("deep", {"_id": {"$gt": ObjectId(deep_after)}})):
                query = {"words": {"$all": ["rare"]}, **UNRESERVED, **extra}
                plan = await collection.find(query).sort("_id", 1).limit(PAGE).explain()
                print(f"plan of a {page} page of one word at {size:,} tickets: {plan_of(plan)}")
    return rows


async def main() -> None:
    print("\n== title search (tickets service in-process, GET /api/tickets?q=) ==", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="bench-search-") as workdir,
        mongo_server(Path(workdir)) as server_url,
    ):
        rows = [row for size in SIZES for row in await measure_size(server_url, size)]
    headers = ["tickets", "query", "matches", "request", "median ms", "p95 ms"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    for row in [headers, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    if not os.environ.get("MONGO_URI"):
        print(
            "caveat: measured on the embedded Mongo stand-in (SQLite), which plans these queries "
            "as a scan;\n  on MongoDB the index title_words_by_id (words, _id) serves a page "
            "from `after` on:\n  set MONGO_URI to a real MongoDB to measure that."
        )


if __name__ == "__main__":
    asyncio.run(main())
