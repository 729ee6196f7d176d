"""Each group of figures: how it is loaded, against which ceiling or baseline, and the target
(issue-style table: benchmarks/README.md).

HTTP figures are wrk runs through the platform's nginx, each paired back to back with the same
run against its ceiling, `runs` times; a figure is the median of its runs, its ratio the
median over the ceiling's median. Between runs the platform is left to finish the work the
last run started (its consumers catch up), so one run's backlog does not slow the next.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from argon2 import PasswordHasher, Type
from beanie import init_beanie
from bson import ObjectId
from nats.aio.client import Client as NatsClient
from pymongo import AsyncMongoClient
from pymongo.database import Database

from auth.passwords import CONCURRENT_HASHES, MEMORY_KIB, PARALLELISM, TIME_COST
from benchmarks import wrk
from benchmarks.report import Figure, at_least, at_most, median, ratio_of
from benchmarks.stack import PASSWORD, Stack
from common.outbox import MARKER, Outbox, OutboxDocument, now_ms
from common.session import COOKIE_NAME, issue_token
from tickets.title_words import words_of

CATALOGUE_SIZES = (1_000, 10_000, 100_000)
PAGE = 20
DEEP_FROM_END = 30
"""A deep page starts after the ticket this many from the end of the catalogue."""
BUYERS = 100
MEMORY_LIMIT_MIB = 256
"""Each service's memory limit in Kubernetes (infra/k8s/*-depl.yaml)."""


@dataclass(frozen=True)
class Options:
    runs: int = 3
    seconds: float = 2.0


def say(message: str) -> None:
    print(f"  {message}", flush=True)


def rates(runs: list[wrk.Run]) -> float:
    """The median rate of successful answers."""
    return median([run.answered_rate for run in runs])


def describe(runs: list[wrk.Run], unit: str = "req/s") -> str:
    return f"{rates(runs):,.1f} {unit}"


def errors_note(runs: list[wrk.Run]) -> str:
    failed = sum(run.non_2xx + run.socket_errors for run in runs)
    answered = sum(run.requests for run in runs)
    return f"{failed} of {answered} answers were errors" if failed else ""


def settle(stack: Stack, timeout: float = 60.0) -> None:
    """Wait until every consumer of the platform's stream has handled what was published
    (and a moment more), so that the next run starts on an idle platform."""

    async def pending() -> int:
        nats = NatsClient()
        await nats.connect(stack.platform.nats_url, connect_timeout=5)
        try:
            jsm = nats.jsm()
            total = 0
            for stream in await jsm.streams_info():
                for consumer in await jsm.consumers_info(stream.config.name or ""):
                    total += (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
            return total
        finally:
            await nats.close()

    deadline = time.monotonic() + timeout
    while asyncio.run(pending()) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)


def paired(
    stack: Stack,
    options: Options,
    request: wrk.Request,
    *,
    ceiling: wrk.Request | None = None,
    connections: int = wrk.CONNECTIONS,
) -> tuple[list[wrk.Run], list[wrk.Run]]:
    """The ceiling (the bare app) and the platform, back to back, `runs` times each."""
    bare: list[wrk.Run] = []
    measured: list[wrk.Run] = []
    for _ in range(options.runs):
        bare.append(
            wrk.run(
                stack.bare_url,
                ceiling or request,
                seconds=options.seconds,
                connections=connections,
            )
        )
        measured.append(
            wrk.run(stack.url, request, seconds=options.seconds, connections=connections)
        )
        settle(stack)
    return bare, measured


# -- current user -------------------------------------------------------------------------


def current_user(stack: Stack, options: Options) -> list[Figure]:
    _, cookie = stack.sign_up()
    request = wrk.Request("/api/users/currentuser", headers=(("Cookie", cookie),))
    bare, measured = paired(stack, options, request)
    return [
        Figure(
            "GET /api/users/currentuser / bare route",
            f"{describe(measured)} vs {describe(bare)}",
            at_least(0.70, "%"),
            ratio=ratio_of(rates(measured), rates(bare)),
            note=errors_note(measured),
            correct=all(run.clean for run in measured),
        )
    ]


# -- creating tickets ---------------------------------------------------------------------


def raw_inserts(stack: Stack, seconds: float, connections: int = wrk.CONNECTIONS) -> float:
    """The ceiling of a write: `insert_one` of a ticket-sized document into the tickets
    database, from `connections` concurrent tasks, per second."""

    async def insert() -> float:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url)
        collection = client["tickets"]["bench_raw_inserts"]
        done = 0
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await collection.insert_one(ticket_document(done))
                done += 1

        started = time.monotonic()
        try:
            await asyncio.gather(*(worker() for _ in range(connections)))
            return done / (time.monotonic() - started)
        finally:
            await collection.drop()
            await client.close()

    return asyncio.run(insert())


def create_tickets(stack: Stack, options: Options) -> list[Figure]:
    _, cookie = stack.sign_up()
    request = wrk.Request(
        "/api/tickets",
        method="POST",
        body={"title": "A benchmark concert", "price": "20.50"},
        headers=(("Cookie", cookie),),
    )
    bare: list[wrk.Run] = []
    measured: list[wrk.Run] = []
    inserts: list[float] = []
    for _ in range(options.runs):
        inserts.append(raw_inserts(stack, options.seconds))
        measured.append(wrk.run(stack.url, request, seconds=options.seconds))
        bare.append(wrk.run(stack.bare_url, request, seconds=options.seconds))
        settle(stack)
    correct = all(run.clean for run in measured)
    return [
        Figure(
            "POST /api/tickets / raw insert_one",
            f"{describe(measured)} vs {median(inserts):,.1f} inserts/s",
            at_least(0.40, "%"),
            ratio=ratio_of(rates(measured), median(inserts)),
            note=errors_note(measured),
            correct=correct,
        ),
        Figure(
            "POST /api/tickets / bare route",
            f"{describe(measured)} vs {describe(bare)}",
            at_least(0.25, "%"),
            ratio=ratio_of(rates(measured), rates(bare)),
            correct=correct,
        ),
    ]


# -- reserving tickets --------------------------------------------------------------------


def ticket_document(n: int, ticket_id: ObjectId | None = None) -> dict[str, Any]:
    """A free ticket as the tickets service stores it."""
    title = f"Benchmark concert {n}"
    return {
        "_id": ticket_id or ObjectId(),
        "title": title,
        "price_cents": 2000 + n % 1000,
        "user_id": "b" * 24,
        "order_id": None,
        "held_by": [],
        "released": [],
        "hold_expiries": {},
        "sold_to": None,
        "sold_at": None,
        "words": words_of(title),
        "request_id": None,
        "version": 0,
        "outbox": [],
        "changed_at": now_ms(),
    }


def replica_document(ticket: dict[str, Any]) -> dict[str, Any]:
    """The same ticket as the orders service's replica stores it."""
    return {
        "_id": ticket["_id"],
        "title": ticket["title"],
        "price_cents": ticket["price_cents"],
        "version": ticket["version"],
    }


def db(stack: Stack, name: str) -> Database[dict[str, Any]]:
    assert stack.mongo is not None
    return stack.mongo[name]


def stock_tickets(stack: Stack, count: int) -> list[str]:
    """`count` free tickets stored in tickets and replicated in orders, as ticket:created
    would have left them (written directly: a benchmark of reservations needs thousands)."""
    tickets = [ticket_document(n) for n in range(count)]
    for start in range(0, count, 5000):
        chunk = tickets[start : start + 5000]
        db(stack, "tickets")["tickets"].insert_many(chunk, ordered=False)
        db(stack, "orders")["tickets"].insert_many(
            [replica_document(t) for t in chunk], ordered=False
        )
    return [str(ticket["_id"]) for ticket in tickets]


def create_orders(stack: Stack, options: Options) -> list[Figure]:
    _, cookie = stack.sign_up()
    expected = int(400 * options.seconds * options.runs) + 200
    """More tickets than the orders service could reserve in every run at 400/s."""
    ticket_ids = stock_tickets(stack, expected)
    headers = (("Cookie", cookie),)
    request = wrk.Request("/api/orders", method="POST", headers=headers, ticket_ids=ticket_ids)
    bare: list[wrk.Run] = []
    measured: list[wrk.Run] = []
    used = 0
    for _ in range(options.runs):
        bare.append(wrk.run(stack.bare_url, request, seconds=options.seconds))
        run = wrk.run(stack.url, request, seconds=options.seconds, offset=used)
        used += run.requests + 2 * wrk.CONNECTIONS  # those still in flight took theirs too
        measured.append(run)
        settle(stack)
    return [
        Figure(
            "POST /api/orders / bare route",
            f"{describe(measured)} vs {describe(bare)}",
            at_least(0.15, "%"),
            ratio=ratio_of(rates(measured), rates(bare)),
            note=errors_note(measured) or f"{used:,} of {len(ticket_ids):,} tickets",
            correct=all(run.clean for run in measured) and used <= len(ticket_ids),
        )
    ]


def buyers(stack: Stack, options: Options) -> list[Figure]:
    """`BUYERS` people buy one ticket at the same moment: exactly one wins; the p99 of their
    answers (one warm-up round, then `runs` rounds on fresh tickets), and of the same round
    on the bare route.

    The client is aiohttp: httpx, with a hundred requests at once on a hundred connections,
    spends seconds of its own CPU per round (the same round on the bare route took 1.5-3 s
    with it, 0.06-0.09 s with aiohttp), which was most of what the figure measured."""
    key = stack.platform.settings.jwt_key
    cookies = [
        f"{COOKIE_NAME}={issue_token(uuid.uuid4().hex[:24], f'buyer{n}@example.com', key)}"
        for n in range(BUYERS)
    ]
    ticket_ids = stock_tickets(stack, options.runs + 1)

    async def round_of(base_url: str, ticket_id: str) -> tuple[float, int, int]:
        connector = aiohttp.TCPConnector(limit=BUYERS)
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(base_url, connector=connector, timeout=timeout) as http:

            async def connect() -> None:
                async with http.get("/api/users/currentuser") as response:
                    await response.read()

            await asyncio.gather(*(connect() for _ in range(BUYERS)))
            started = time.perf_counter()

            async def buy(cookie: str) -> tuple[int, float]:
                body = {"ticketId": ticket_id}
                async with http.post("/api/orders", json=body, headers={"Cookie": cookie}) as sent:
                    await sent.read()
                    return sent.status, time.perf_counter() - started

            answers = await asyncio.gather(*(buy(cookie) for cookie in cookies))
        latencies = sorted(latency for _, latency in answers)
        p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
        wins = sum(1 for status, _ in answers if status == 201)
        refused = sum(1 for status, _ in answers if status == 400)
        return p99, wins, refused

    results = []
    bare_p99s = []
    for n, ticket_id in enumerate(ticket_ids):
        outcome = asyncio.run(round_of(stack.url, ticket_id))
        stored = db(stack, "orders")["orders"].count_documents({"ticket_id": ticket_id})
        bare_p99, *_ = asyncio.run(round_of(stack.bare_url, ticket_id))
        if n:  # the first round warms up
            results.append((*outcome, stored))
            bare_p99s.append(bare_p99)
        settle(stack)
    p99s = [p99 for p99, *_ in results]
    one_winner = all(w == 1 and r == BUYERS - 1 and s == 1 for _, w, r, s in results)
    return [
        Figure(
            f"{BUYERS} simultaneous buyers of one ticket: p99",
            f"{median(p99s):.3f} s ({', '.join(f'{p:.2f}' for p in p99s)})",
            at_most(1.0, " s"),
            value=median(p99s),
            note=(
                f"exactly one winner; bare route: {median(bare_p99s):.3f} s"
                if one_winner
                else f"winners/refused/stored: {results}"
            ),
            correct=one_winner,
        )
    ]


# -- the catalogue: pages and the unpaged list --------------------------------------------


def latency(stack: Stack, options: Options, path: str) -> tuple[float, set[int]]:
    """The median latency of `path` asked by one client, one request at a time (two untimed
    first), for `runs` x `seconds` and at least `runs` requests (a slow page too)."""
    samples: list[float] = []
    wrong: set[int] = set()
    """The statuses of answers that were not a full page."""
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        for _ in range(2):
            http.get(path)
        deadline = time.monotonic() + options.runs * options.seconds
        while time.monotonic() < deadline or len(samples) < options.runs:
            started = time.perf_counter()
            response = http.get(path)
            samples.append(time.perf_counter() - started)
            if response.status_code != 200 or len(response.json()) != PAGE:
                wrong.add(response.status_code)
    return median(samples), wrong


def until_listed(stack: Stack, last: ObjectId, timeout: float = 180.0) -> float:
    """Seconds until the list shows the catalogue's last ticket: written behind the service's
    back (as thousands of sellers would have over time), the tickets are read by the service's
    catalogue on its next sync, a long one after so many writes."""
    started = time.monotonic()
    cursor: dict[str, str | int] = {"limit": 1, "after": f"{int(str(last), 16) - 1:024x}"}
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        while time.monotonic() - started < timeout:
            response = http.get("/api/tickets", params=cursor)
            if response.status_code == 200 and [t["id"] for t in response.json()] == [str(last)]:
                break
            time.sleep(0.5)
    return time.monotonic() - started


def grow_catalogue(stack: Stack, to: int) -> list[ObjectId]:
    """Add free tickets until the catalogue holds `to`; every free ticket's id, in order."""
    tickets = db(stack, "tickets")["tickets"]
    have = tickets.count_documents({})
    for start in range(have, to, 5000):
        chunk = [ticket_document(n) for n in range(start, min(to, start + 5000))]
        tickets.insert_many(chunk, ordered=False)
    return [doc["_id"] for doc in tickets.find({}, {"_id": 1}).sort("_id", 1)]


def catalogue(
    stack: Stack, options: Options, *, listing: bool = True, pages: bool = True
) -> list[Figure]:
    """The tickets service's list at 1,000, 10,000 and 100,000 free tickets."""
    figures: list[Figure] = []
    page_times: dict[int, dict[str, tuple[float, set[int]]]] = {}
    unpaged: dict[int, list[wrk.Run]] = {}
    sizes = [size for size in CATALOGUE_SIZES if pages or size <= 10_000]
    for size in sizes:
        started = time.monotonic()
        ids = grow_catalogue(stack, size)
        say(f"catalogue of {size:,} tickets stored in {time.monotonic() - started:.0f} s")
        listed_in = until_listed(stack, ids[-1])
        say(f"the tickets service listed them after {listed_in:.1f} s")
        if pages and size in (1_000, 100_000):
            after = ids[-DEEP_FROM_END]
            page_times[size] = {
                "first": latency(stack, options, f"/api/tickets?limit={PAGE}"),
                "deep": latency(stack, options, f"/api/tickets?limit={PAGE}&after={after}"),
            }
        if listing and size == 1_000:
            bare, measured = paired(stack, options, wrk.Request(f"/api/tickets?limit={PAGE}"))
            figures.append(
                Figure(
                    f"GET /api/tickets?limit={PAGE} (1k tickets) / bare route",
                    f"{describe(measured)} vs {describe(bare)}",
                    at_least(0.30, "%"),
                    ratio=ratio_of(rates(measured), rates(bare)),
                    note=errors_note(measured),
                    correct=all(run.clean for run in measured),
                )
            )
        if listing and size in (1_000, 10_000):
            unpaged[size] = [
                wrk.run(stack.url, wrk.Request("/api/tickets"), seconds=max(options.seconds, 3))
                for _ in range(options.runs)
            ]
            time.sleep(3)  # the database finishes the queries of requests given up on
    if listing:
        small, large = rates(unpaged[1_000]), rates(unpaged[10_000])
        figures.append(
            Figure(
                "GET /api/tickets unpaged, 1k tickets",
                describe(unpaged[1_000]),
                at_least(50, "/s"),
                value=small,
                note=errors_note(unpaged[1_000]),
                correct=all(run.clean for run in unpaged[1_000]),
            )
        )
        figures.append(
            Figure(
                "GET /api/tickets unpaged, 10k tickets: time / 1k's",
                describe(unpaged[10_000]),
                at_most(10.0, "x"),
                ratio=ratio_of(small, large) if large else None,
                note=errors_note(unpaged[10_000]),
                correct=all(run.clean for run in unpaged[10_000]),
            )
        )
    if pages:
        for kind, bound in (("first", 1.5), ("deep", 3.0)):
            small, large = page_times[1_000][kind][0], page_times[100_000][kind][0]
            failed = [
                f"{size:,} ({', '.join(map(str, sorted(times[kind][1])))})"
                for size, times in page_times.items()
                if times[kind][1]
            ]
            figures.append(
                Figure(
                    f"{kind} page at 100k tickets / at 1k",
                    f"{large * 1000:.1f} ms vs {small * 1000:.1f} ms",
                    at_most(bound, "x"),
                    ratio=ratio_of(large, small),
                    note=f"answers not a full page at {' and '.join(failed)}" if failed else "",
                    correct=not failed,
                )
            )
    db(stack, "tickets")["tickets"].delete_many({"user_id": "b" * 24})
    return figures


# -- signing in ---------------------------------------------------------------------------

SIGNIN_CONNECTIONS = 8


def hash_rate(seconds: float) -> float:
    """The ceiling of sign-ins: argon2id verifications per second at the service's parameters
    and as many at once as the service allows (`auth.passwords`), in this process."""
    hasher = PasswordHasher(
        time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM, type=Type.ID
    )
    stored = hasher.hash(PASSWORD)

    def verify_for(deadline: float) -> int:
        done = 0
        while time.monotonic() < deadline:
            hasher.verify(stored, PASSWORD)
            done += 1
        return done

    deadline = time.monotonic() + seconds
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENT_HASHES) as pool:
        done = sum(pool.map(verify_for, [deadline] * CONCURRENT_HASHES))
    return done / (time.monotonic() - started)


def sign_in(stack: Stack, options: Options) -> list[Figure]:
    """Sign-ins from 8 connections, each request for one of 8 users in turn (one email's
    failures and attempts are throttled; right passwords never are), beside the rate at
    which this machine verifies argon2id hashes at the same time."""
    emails = [stack.sign_up()[0] for _ in range(SIGNIN_CONNECTIONS)]
    request = wrk.Request(
        "/api/users/signin",
        method="POST",
        bodies=[{"email": email, "password": PASSWORD} for email in emails],
    )
    runs: list[wrk.Run] = []
    hashes: list[float] = []
    for _ in range(options.runs):
        hashes.append(hash_rate(options.seconds))
        runs.append(
            wrk.run(stack.url, request, seconds=options.seconds, connections=SIGNIN_CONNECTIONS)
        )
    return [
        Figure(
            f"sign-in rate, concurrency {SIGNIN_CONNECTIONS}",
            f"{describe(runs)} vs {median(hashes):,.1f} hashes/s "
            f"({ratio_of(rates(runs), median(hashes)) * 100:.0f} %)",
            at_least(25, "/s"),
            value=rates(runs),
            note=errors_note(runs) or "vs: argon2id verifications/s on the same cores",
            correct=all(run.clean for run in runs),
        )
    ]


# -- memory -------------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in KiB (Linux)."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def memory(stack: Stack, options: Options) -> list[Figure]:
    """Each service's memory after the loads above: resident now and its peak."""
    figures = []
    for name, process in stack.platform.services.items():
        if process.process is None:
            continue
        kib = memory_kib(process.process.pid)
        rss, peak = kib["VmRSS"] / 1024, kib["VmHWM"] / 1024
        figures.append(
            Figure(
                f"memory: {name} (RSS after load, peak)",
                f"{rss:.0f} MiB, peak {peak:.0f} MiB",
                at_most(MEMORY_LIMIT_MIB, " MiB"),
                value=peak,
            )
        )
    return figures


# -- the events' ceiling ------------------------------------------------------------------


def jetstream(stack: Stack, options: Options, count: int = 2000) -> list[Figure]:
    """Raw JetStream: `count` messages published (32 at a time, each awaiting its ack) and
    taken by a pull consumer (fetch, ack), per second; the ceiling of any event path."""

    async def once(run: int) -> float:
        nats = NatsClient()
        await nats.connect(stack.platform.nats_url, connect_timeout=5)
        js = nats.jetstream()
        stream = f"BENCH{run}"
        await js.add_stream(name=stream, subjects=[f"bench{run}.>"])
        try:
            consumer = await js.pull_subscribe(f"bench{run}.>", durable="bench", stream=stream)
            started = time.perf_counter()
            queue = iter(range(count))

            async def publisher() -> None:
                for n in queue:
                    await js.publish(f"bench{run}.event", b'{"n": %d}' % n)

            received = 0

            async def puller() -> None:
                nonlocal received
                while received < count:
                    try:
                        messages = await consumer.fetch(100, timeout=1)
                    except TimeoutError:
                        continue
                    for message in messages:
                        await message.ack()
                    received += len(messages)

            await asyncio.gather(puller(), *(publisher() for _ in range(wrk.CONNECTIONS)))
            return count / (time.perf_counter() - started)
        finally:
            await js.delete_stream(stream)
            await nats.close()

    measured = [asyncio.run(once(run)) for run in range(options.runs)]
    return [
        Figure(
            "ceiling: raw JetStream publish -> pull consumer",
            f"{median(measured):,.0f} msg/s",
            value=median(measured),
        )
    ]


# -- the outbox relay ---------------------------------------------------------------------


class BenchRecord(OutboxDocument):
    """A document with an outbox, in a scratch database of the platform's Mongo server."""

    n: int

    class Settings:
        name = "bench_outbox"


class SmallBenchRecord(BenchRecord):
    """The same, in a collection of its own (the small one of the pair)."""

    class Settings:
        name = "bench_outbox_small"


class CountingPublisher:
    """Takes every event (as JetStream would), recording each id."""

    def __init__(self) -> None:
        self.published: list[str] = []

    async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
        self.published.append(msg_id)


RELAY_REPLICAS = 3
PENDING = 300


def outbox_relay(stack: Stack, options: Options) -> list[Figure]:
    """The relay's idle pass (its pending query over a collection where nothing is pending)
    at 1,000 and 100,000 documents; then `RELAY_REPLICAS` relays draining `PENDING` left-behind
    documents together: how many publishes that took."""

    async def measure() -> tuple[dict[int, float], str, int, int]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_url, tz_aware=True)
        database = client["bench_outbox"]
        publisher = CountingPublisher()
        outbox = Outbox(publisher, [BenchRecord, SmallBenchRecord])
        models = {1_000: SmallBenchRecord, 100_000: BenchRecord}
        try:
            await init_beanie(database=database, document_models=list(models.values()))
            await outbox.bind()
            for size, model in models.items():
                started = time.monotonic()
                for start in range(0, size, 5000):
                    chunk = range(start, min(size, start + 5000))
                    await model.get_pymongo_collection().insert_many(
                        [{"_id": ObjectId(), "n": n, "outbox": []} for n in chunk], ordered=False
                    )
                say(f"{size:,} outbox documents stored in {time.monotonic() - started:.0f} s")
            # One relay per collection, their idle passes interleaved: the machine's noise
            # falls on both alike.
            relays = {size: Outbox(publisher, [model]) for size, model in models.items()}
            samples: dict[int, list[float]] = {size: [] for size in models}
            for n in range(23):
                for size, relay in relays.items():
                    started = time.perf_counter()
                    await relay.drain_once()
                    if n >= 3:  # three untimed passes first
                        samples[size].append(time.perf_counter() - started)
            idle = {size: statistics.median(times) for size, times in samples.items()}
            collection = BenchRecord.get_pymongo_collection()
            pending = collection.find({MARKER: {"$lt": now_ms()}}).sort(MARKER, 1).limit(100)
            plan = plan_summary(await pending.explain())
            # Documents whose writers left their events behind a minute ago.
            left_at = now_ms() - 60_000
            await collection.insert_many(
                [
                    {
                        "_id": ObjectId(),
                        "n": n,
                        "outbox": [{"id": uuid.uuid4().hex, "subject": "bench", "data": {}}],
                        MARKER: left_at,
                    }
                    for n in range(PENDING)
                ]
            )
            replicas = [Outbox(publisher, [BenchRecord]) for _ in range(RELAY_REPLICAS)]
            publisher.published.clear()
            while sum(await asyncio.gather(*(relay.drain_once() for relay in replicas))):
                pass
            left = await collection.count_documents({MARKER: {"$exists": True}})
            return idle, plan, len(publisher.published), left
        finally:
            outbox.unbind()
            await client.drop_database("bench_outbox")
            await client.close()

    idle, plan, published, left = asyncio.run(measure())
    small, large = idle[1_000] * 1000, idle[100_000] * 1000
    return [
        Figure(
            "outbox relay's pending query at 100k documents / at 1k",
            f"{large:.1f} ms vs {small:.1f} ms",
            at_most(2.0, "x"),
            ratio=ratio_of(large, small),
            note=f"plan: {plan}",
        ),
        Figure(
            f"{RELAY_REPLICAS} relays, {PENDING} documents left behind: publishes / events",
            f"{published} publishes, {left} left",
            at_most(1.0, "x"),
            ratio=ratio_of(published, PENDING),
            correct=published >= PENDING and left == 0,
        ),
    ]


def plan_summary(plan: dict[str, Any]) -> str:
    """The winning plan of an explain() in one line: MongoDB's stages outermost first, or
    the stand-in's SQLite plan lines."""
    winning = plan.get("queryPlanner", {}).get("winningPlan")
    if isinstance(winning, list):  # the stand-in: SQLite's plan
        return "; ".join(str(step.get("detail", step)) for step in winning)
    stages = []
    while isinstance(winning, dict):
        stage = winning.get("stage", "?")
        stages.append(f"{stage} {winning['indexName']}" if "indexName" in winning else stage)
        winning = winning.get("inputStage")
    return " <- ".join(stages) or "(no plan)"


GROUPS: dict[str, Callable[[Stack, Options], list[Figure]]] = {
    "currentuser": current_user,
    "list": lambda stack, options: catalogue(stack, options, pages=False),
    "pages": lambda stack, options: catalogue(stack, options, listing=False),
    "catalogue": catalogue,
    "create": create_tickets,
    "orders": create_orders,
    "buyers": buyers,
    "signin": sign_in,
    "outbox": outbox_relay,
    "events": jetstream,
    "memory": memory,
}
"""Every group, in the order `make bench` runs them (`--only list,pages`). The catalogue's
figures come first, on a database no other group has written to yet; `catalogue` is `list`
and `pages` in one pass (what runs when both are chosen); memory is read last, after all the
load."""


def chosen(only: list[str] | None) -> list[str]:
    """The groups to run, in order: every one (but `list` and `pages`, which `catalogue`
    covers), or those named."""
    if only is None:
        return [name for name in GROUPS if name not in ("list", "pages")]
    unknown = set(only) - set(GROUPS)
    if unknown:
        raise ValueError(f"no such figures: {', '.join(sorted(unknown))}")
    names = set(only)
    if {"list", "pages"} <= names:
        names = (names - {"list", "pages"}) | {"catalogue"}
    return [name for name in GROUPS if name in names]
