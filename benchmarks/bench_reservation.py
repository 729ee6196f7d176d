"""Reservation under contention: 50 simultaneous `POST /api/orders` for one ticket, against
the orders service in-process (events to a recording publisher), repeated over fresh tickets.

Prints each round's latencies (from the moment all requests are sent) and its outcome:
exactly one 201 is what the contract requires (the orders tests assert it; here it is shown).
"""

from __future__ import annotations

import asyncio
import time

from httpx import AsyncClient

from benchmarks._support import (
    JWT_KEY,
    Figures,
    fresh_database,
    heading,
    mongo_server,
    scratch_dir,
    serving,
    session_headers,
    table,
)
from orders.app import create_app
from orders.models import Order, Ticket
from orders.settings import OrdersSettings
from testsupport.doubles import RecordingPublisher

REQUESTS = 50
ROUNDS = 5
WARMUP = 2


async def timed_post(http: AsyncClient, ticket_id: str, sent: float) -> tuple[int, float]:
    """The status of one reservation and its latency from `sent`."""
    response = await http.post(
        "/api/orders", json={"ticketId": ticket_id}, headers=session_headers()
    )
    return response.status_code, time.perf_counter() - sent


async def contend(http: AsyncClient) -> tuple[list[int], Figures, float, int]:
    """One round on a fresh ticket replica: statuses, latencies, wall time, orders stored."""
    ticket = await Ticket(title="final", price_cents=5000, version=0).insert()
    ticket_id = str(ticket.id)
    sent = time.perf_counter()
    results = await asyncio.gather(*[timed_post(http, ticket_id, sent) for _ in range(REQUESTS)])
    wall = time.perf_counter() - sent
    stored = await Order.find(Order.ticket_id == ticket_id).count()
    return [status for status, _ in results], Figures([t for _, t in results]), wall, stored


async def rounds(mongo_uri: str) -> tuple[list[list[object]], list[float], int]:
    """The table rows of each round, every latency, and how many rounds had exactly one
    winner (one 201 and one stored order)."""
    settings = OrdersSettings(JWT_KEY=JWT_KEY, MONGO_URI=mongo_uri, NATS_URL="nats://unused")
    rows: list[list[object]] = []
    every: list[float] = []
    exactly_one = 0
    async with serving(create_app(settings, publisher=RecordingPublisher())) as http:
        for _ in range(WARMUP):  # first queries, connections opened: untimed
            await contend(http)
        for n in range(1, ROUNDS + 1):
            statuses, figures, wall, stored = await contend(http)
            every.extend(figures.samples)
            wins = statuses.count(201)
            exactly_one += wins == 1 and stored == 1
            others = ",".join(str(s) for s in sorted(set(statuses) - {201, 400})) or "-"
            median, p95 = figures.ms()
            wall_ms = f"{wall * 1000:.0f}"
            rows.append([n, wins, statuses.count(400), others, stored, median, p95, wall_ms])
    return rows, every, exactly_one


async def main() -> None:
    heading(f"reservation under contention ({REQUESTS} simultaneous POST /api/orders, one ticket)")
    with (
        scratch_dir("reservation") as workdir,
        mongo_server(workdir) as server,
        fresh_database(server.url) as mongo_uri,
    ):
        rows, every, exactly_one = await rounds(mongo_uri)
    print(
        table(
            ["round", "201", "400", "other", "orders", "median ms", "p95 ms", "round ms"],
            rows,
        )
    )
    median, p95 = Figures(every).ms()
    print(f"all {len(every)} requests: median {median} ms, p95 {p95} ms")
    print(f"exactly one 201 (and one stored order) in {exactly_one} of {ROUNDS} rounds")


if __name__ == "__main__":
    asyncio.run(main())
