"""Two expiration processes sharing Redis, as in production (two replicas): each order's
expiration:complete is stored once, and a worker killed -9 in the middle of its jobs loses
none of them - the other one runs them once their in-progress keys lapse."""

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from bson import ObjectId
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from redis.asyncio import Redis

from common.events.schemas import OrderCreated, OrderTicket
from common.events.stream import STREAM_NAME, ensure_stream
from common.events.subjects import OrderStatus, Subjects
from expiration.worker import JOB_TIMEOUT_SECONDS
from testsupport.servers import NatsServer, ServiceProcess

pytestmark = pytest.mark.integration

ORDERS = 12


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A NatsClient server of this test's own: the test freezes it for a moment."""
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.resume()
    server.stop()


@pytest.fixture
async def jetstream(nats_server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_stream(js)
    yield nc, js
    await nc.close()


async def publish_order_created(js: JetStreamContext, expires_at: datetime) -> str:
    event = OrderCreated(
        id=str(ObjectId()),
        version=0,
        status=OrderStatus.CREATED,
        user_id=str(ObjectId()),
        expires_at=expires_at,
        ticket=OrderTicket(id=str(ObjectId()), price=10),
    )
    await js.publish(
        Subjects.ORDER_CREATED.value,
        json.dumps(event.to_wire()).encode(),
        headers={"Nats-Msg-Id": f"order-created-{event.id}"},
    )
    return event.id


async def stored_expirations(js: JetStreamContext) -> list[str]:
    """The order id of every expiration:complete the stream holds, duplicates included."""
    subscription = await js.pull_subscribe(
        Subjects.EXPIRATION_COMPLETE.value,
        stream=STREAM_NAME,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            filter_subject=Subjects.EXPIRATION_COMPLETE.value,
            inactive_threshold=5,
        ),
    )
    found: list[str] = []
    try:
        while True:
            try:
                messages = await subscription.fetch(100, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                return found
            found += [json.loads(message.data)["orderId"] for message in messages]
    finally:
        await subscription.unsubscribe()


def jobs_started(worker: ServiceProcess) -> set[str]:
    """Orders whose job this worker started (arq logs `→ <job id>:expire_order(...)`)."""
    text = worker.log_path.read_text(errors="replace") if worker.log_path.exists() else ""
    return set(re.findall(r"→ ([0-9a-f]{24}):expire_order", text))


async def test_two_workers_expire_each_order_once_and_a_killed_one_loses_no_job(
    jetstream: tuple[NatsClient, JetStreamContext],
    nats_server: NatsServer,
    redis_url: str,
    tmp_path: Path,
) -> None:
    _, js = jetstream
    env = {"NATS_URL": nats_server.url, "REDIS_URL": redis_url, "LOG_LEVEL": "INFO"}
    first, second = (
        ServiceProcess("expiration", tmp_path, {**env, "NATS_CLIENT_ID": name}, instance=name)
        for name in ("expiration-1", "expiration-2")
    )
    first.start()
    second.start()
    try:
        due = datetime.now(UTC) + timedelta(seconds=2)
        orders = [await publish_order_created(js, due) for _ in range(ORDERS)]
        redis = Redis.from_url(redis_url)
        try:
            queued = 0
            while queued < ORDERS:  # the listeners (one per event) made one job per order
                queued = await redis.zcard("arq:expiration")
                await asyncio.sleep(0.1)
        finally:
            await redis.aclose()

        # NatsClient freezes as the jobs fall due: every publish hangs, so the workers are in the
        # middle of their jobs when the first one is killed.
        await asyncio.sleep((due - datetime.now(UTC)).total_seconds() - 0.3)
        nats_server.pause()
        try:
            deadline = time.monotonic() + 10
            while not jobs_started(first):
                assert time.monotonic() < deadline, "the first worker never started a job"
                await asyncio.sleep(0.05)
            first.kill()
            held_by_the_dead = jobs_started(first)
            await asyncio.sleep(0.5)
        finally:
            nats_server.resume()

        # No job is lost: the survivor runs those the dead worker held once their in-progress
        # keys lapse (job timeout + 10 s), and every job finishes (its result is kept).
        redis = Redis.from_url(redis_url)
        try:
            deadline = time.monotonic() + JOB_TIMEOUT_SECONDS + 10 + 30
            while await redis.zcard("arq:expiration") or not all(
                await asyncio.gather(*(redis.exists(f"arq:result:{o}") for o in orders))
            ):
                assert time.monotonic() < deadline, f"jobs left: the dead held {held_by_the_dead}"
                await asyncio.sleep(0.5)
        finally:
            await redis.aclose()
        assert held_by_the_dead <= jobs_started(second), "the survivor did not run them"

        # Each order's expiration:complete is stored once, also where the dead worker's publish
        # reached NatsClient before it died and the survivor published again (same message id).
        await asyncio.sleep(1)
        stored = await stored_expirations(js)
        assert sorted(stored) == sorted(orders)
    finally:
        first.stop()
        second.stop()
