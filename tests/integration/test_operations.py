"""Operating the platform, against services running as processes over real NATS: an event
that fails its schema is set aside to the dead-letter stream (not lost), `ticketing-admin`
lists, shows and replays it to the one consumer that set it aside, reports consumer lag, the
outbox backlog and a payments reconciliation, and says so in one line when something it needs
is unreachable. Every service's `/metrics` counts what happened."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest

from common.events.stream import STREAM_NAME
from testsupport.servers import NatsServer, ServiceProcess, eventually, free_port

pytestmark = pytest.mark.integration

ADMIN = str(Path(sys.executable).parent / "ticketing-admin")
POISON = {"id": "not-an-order", "status": "created"}
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TICKETS_CONSUMER = "tickets-service--order-created"
PAYMENTS_CONSUMER = "payments-service--order-created"


def admin(nats_url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`ticketing-admin ARGS` as an operator runs it (the console script), with `NATS_URL`."""
    return subprocess.run(
        [ADMIN, *args],
        env={"NATS_URL": nats_url, "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def dead_list(nats_url: str) -> list[dict[str, str]]:
    """The rows of `ticketing-admin dead list`, by column name."""
    done = admin(nats_url, "dead", "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    if lines == ["(none)"]:
        return []
    header = lines[0].split()
    rows = []
    for line in lines[1:]:
        cells = line.split(None, len(header) - 1)
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


async def publish_poison(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        ack = await nc.jetstream().publish(
            "order:created",
            json.dumps(POISON).encode(),
            headers={"Nats-Msg-Id": "poison-1", "traceparent": TRACEPARENT},
        )
        return int(ack.seq)
    finally:
        await nc.close()


async def consumer_state(nats_url: str, durable: str) -> tuple[int, int, int]:
    """(last stream sequence delivered, pending, ack pending) of a durable consumer."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(STREAM_NAME, durable)
        return int(info.delivered.stream_seq or 0), info.num_pending or 0, info.num_ack_pending
    finally:
        await nc.close()


def metric(service: ServiceProcess, sample: str) -> float:
    """The value of one sample line of `service`'s /metrics (0 when absent)."""
    text = httpx.get(f"{service.base_url}/metrics", timeout=10).text
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def dead_lettered(service: str) -> str:
    """The sample counting `service`'s order:created events set aside as invalid."""
    labels = f'reason="invalid",service="{service}",subject="order:created"'
    return f"ticketing_events_dead_lettered_total{{{labels}}}"


def by_service(rows: list[dict[str, str]], service: str) -> list[dict[str, str]]:
    return [row for row in rows if row["service"] == service]


def test_a_poison_event_is_set_aside_listed_shown_and_replayed_to_its_consumer_only(
    start_service: Callable[..., ServiceProcess], nats_server: NatsServer
) -> None:
    tickets = start_service("tickets")
    payments = start_service(
        "payments", {"STRIPE_KEY": "sk_test_ops", "STRIPE_API_BASE": "http://127.0.0.1:9"}
    )
    url = nats_server.url
    assert dead_list(url) == []

    poison_seq = asyncio.run(publish_poison(url))

    # Both consumers of order:created set it aside at once (it fails their schema).
    eventually(lambda: len(dead_list(url)) == 2, timeout=20)
    rows = dead_list(url)
    assert {row["service"] for row in rows} == {"tickets", "payments"}
    assert all(row["subject"] == "order:created" and row["deliveries"] == "1" for row in rows)
    assert all(row["reason"].startswith("invalid payload") for row in rows)
    (tickets_letter,) = by_service(rows, "tickets")
    (payments_letter,) = by_service(rows, "payments")

    shown = admin(url, "dead", "show", tickets_letter["id"])
    assert shown.returncode == 0, shown.stderr
    letter: dict[str, Any] = json.loads(shown.stdout)
    assert letter["payload"] == POISON
    assert letter["consumer"] == TICKETS_CONSUMER
    assert letter["sequence"] == poison_seq
    assert letter["headers"]["traceparent"] == TRACEPARENT
    assert letter["headers"]["Nats-Msg-Id"] == "poison-1"
    sample = dead_lettered("tickets")
    assert metric(tickets, sample) == 1
    stored = 'ticketing_stream_messages{service="tickets",stream="TICKETING_DEAD"}'
    assert metric(tickets, stored) == 2

    replayed = admin(url, "dead", "replay", tickets_letter["id"])
    assert replayed.returncode == 0, replayed.stderr
    replay_seq = int(replayed.stdout.split()[-1])
    assert f"to {TICKETS_CONSUMER}" in replayed.stdout

    # Tickets gets it again (and, still invalid, sets it aside again); payments acks it
    # without applying it: its dead letter is the only one it has.
    def replay_settled() -> bool:
        rows = dead_list(url)
        delivered, pending, ack_pending = asyncio.run(consumer_state(url, PAYMENTS_CONSUMER))
        return (
            len(by_service(rows, "tickets")) == 1
            and by_service(rows, "tickets")[0]["id"] != tickets_letter["id"]
            and delivered >= replay_seq
            and pending == ack_pending == 0
        )

    eventually(replay_settled, timeout=40)
    rows = dead_list(url)
    assert by_service(rows, "payments") == [payments_letter]
    assert metric(tickets, sample) == 2
    assert metric(payments, dead_lettered("payments")) == 1

    everything = admin(url, "dead", "replay", "--all")
    assert everything.returncode == 0, everything.stderr
    assert everything.stdout.count("replayed") == 2
    eventually(lambda: {r["id"] for r in dead_list(url)}.isdisjoint({r["id"] for r in rows}))

    missing = admin(url, "dead", "show", "999999")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "ticketing-admin: no dead letter 999999"


def test_lag_outbox_and_reconcile_ask_jetstream_and_the_running_services(
    start_service: Callable[..., ServiceProcess], nats_server: NatsServer
) -> None:
    start_service("tickets")
    start_service(
        "payments", {"STRIPE_KEY": "sk_test_ops", "STRIPE_API_BASE": "http://127.0.0.1:9"}
    )
    url = nats_server.url

    lag = admin(url, "lag")
    assert lag.returncode == 0, lag.stderr
    table = {line.split()[0]: line.split()[1:] for line in lag.stdout.splitlines()[1:]}
    assert table[TICKETS_CONSUMER] == ["0", "0", "0"]
    assert PAYMENTS_CONSUMER in table

    outbox = admin(url, "outbox", "tickets", "payments")
    assert outbox.returncode == 0, outbox.stderr
    rows = [line.split() for line in outbox.stdout.splitlines()[1:]]
    assert {(row[0], row[1]) for row in rows} >= {("tickets", "tickets"), ("payments", "payments")}
    assert all(row[2] == "0" for row in rows)

    reconcile = admin(url, "payments", "reconcile")
    assert reconcile.returncode == 0, reconcile.stderr
    assert "failed: 0" in reconcile.stdout.splitlines()

    absent = admin(url, "outbox", "tickets", "orders")
    assert absent.returncode == 1
    assert absent.stderr.strip() == "ticketing-admin: orders is not running (no answer on NATS)"
    assert "tickets" in absent.stdout


def test_the_admin_says_in_one_line_that_nats_is_unreachable() -> None:
    unreachable = f"nats://127.0.0.1:{free_port()}"
    for command in (["lag"], ["dead", "list"], ["outbox"], ["payments", "reconcile"]):
        done = admin(unreachable, "--timeout", "2", *command)
        assert done.returncode == 1
        assert done.stderr.splitlines() == [
            f"ticketing-admin: NATS at {unreachable} is unreachable "
            "(nats: no servers available for connection)"
        ]
