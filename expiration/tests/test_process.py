"""`python -m expiration` as in production, with real NATS (JetStream) and Redis."""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from common.events.stream import STREAM_NAME, ensure_stream
from common.events.subjects import Subjects
from testsupport.events import order_created
from testsupport.servers import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_url)
    jetstream = nc.jetstream()
    await ensure_stream(jetstream)
    yield jetstream
    await nc.close()


@pytest.fixture
def expiration_env(nats_url: str, redis_url: str) -> dict[str, str]:
    return {"NATS_URL": nats_url, "REDIS_URL": redis_url, "NATS_CLIENT_ID": "expiration-test"}


async def publish_order_created(js: JetStreamContext, expires_in: float) -> str:
    event = order_created(price=10, expires_at=datetime.now(UTC) + timedelta(seconds=expires_in))
    await js.publish(
        Subjects.ORDER_CREATED.value,
        json.dumps(event.to_wire()).encode(),
        headers={"Nats-Msg-Id": f"order-created-{event.id}"},
    )
    return event.id


async def expirations_of(js: JetStreamContext, order_id: str) -> list[dict[str, Any]]:
    """Every expiration:complete in the stream about `order_id` (read by a throwaway consumer)."""
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
    found: list[dict[str, Any]] = []
    try:
        while True:
            try:
                messages = await subscription.fetch(100, timeout=0.5)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for message in messages:
                data = json.loads(message.data)
                if data.get("orderId") == order_id:
                    found.append(data)
    finally:
        await subscription.unsubscribe()
    return found


async def wait_for_expirations(
    js: JetStreamContext, order_id: str, within: float
) -> list[dict[str, Any]]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await expirations_of(js, order_id)
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_order_created_on_nats_leads_to_expiration_complete_on_nats(
    js: JetStreamContext, expiration_env: dict[str, str], tmp_path: Path
) -> None:
    service = ServiceProcess("expiration", tmp_path, expiration_env)
    service.start()
    try:
        async with httpx.AsyncClient(base_url=service.base_url) as http:
            ready = (await http.get("/readyz")).json()
        assert ready == {"ready": True, "nats": True, "redis": True, "worker": True}

        order_id = await publish_order_created(js, expires_in=1.5)
        await asyncio.sleep(0.8)
        assert await expirations_of(js, order_id) == [], "published before expiresAt"

        found = await wait_for_expirations(js, order_id, within=10)
        assert found == [{"orderId": order_id}]
    finally:
        service.stop()


async def test_a_job_scheduled_before_a_restart_runs_after_it(
    js: JetStreamContext, expiration_env: dict[str, str], tmp_path: Path
) -> None:
    service = ServiceProcess("expiration", tmp_path, expiration_env)
    service.start()
    order_id = await publish_order_created(js, expires_in=4)
    try:
        # Wait until the job is scheduled (the event is acked), then stop the process.
        await asyncio.sleep(1.0)
        service.stop()
        assert "expiration stopped" in service.log_tail(), "not a graceful shutdown"

        service.start()
        found = await wait_for_expirations(js, order_id, within=15)
        assert found == [{"orderId": order_id}]
    finally:
        service.stop()
