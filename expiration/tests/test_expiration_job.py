"""The worker: a scheduled job publishes expiration:complete at `expiresAt`, is retried when
publishing fails, and lives in Redis across restarts of the service."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from fastapi import FastAPI
from redis.asyncio import Redis

from common.events.subjects import Subjects
from common.service import ServiceSpec
from expiration.queue import QUEUE_NAME, ExpirationQueue
from expiration.settings import ExpirationSettings
from expiration.worker import RETRY_DELAYS, expiration_msg_id
from testsupport.apps import running
from testsupport.doubles import RecordingPublisher

Until = Callable[..., Awaitable[float]]


def queue_of(app: FastAPI) -> ExpirationQueue:
    queue = app.state.dependencies.queue
    assert isinstance(queue, ExpirationQueue)
    return queue


async def test_the_job_publishes_expiration_complete_at_expires_at(
    app: FastAPI, publisher: RecordingPublisher, until: Until
) -> None:
    order_id = str(ObjectId())
    window = 1.0
    scheduled_at = time.monotonic()
    assert await queue_of(app).schedule_expiration(
        order_id, datetime.now(UTC) + timedelta(seconds=window)
    )

    published_at = await until(lambda: publisher.published, within=10)

    assert published_at - scheduled_at >= window - 0.05  # never early
    assert published_at - scheduled_at < window + 1.0  # and promptly
    (event,) = publisher.published
    assert event.subject == Subjects.EXPIRATION_COMPLETE
    assert event.data == {"orderId": order_id}
    assert event.msg_id == expiration_msg_id(order_id)


async def test_an_order_already_past_expiry_expires_at_once(
    app: FastAPI, publisher: RecordingPublisher, until: Until
) -> None:
    order_id = str(ObjectId())
    started = time.monotonic()
    await queue_of(app).schedule_expiration(order_id, datetime.now(UTC) - timedelta(minutes=1))

    published_at = await until(lambda: publisher.published, within=5)

    assert published_at - started < 1.0
    assert publisher.of(Subjects.EXPIRATION_COMPLETE) == [{"orderId": order_id}]


async def test_scheduling_twice_runs_the_job_once(
    app: FastAPI, publisher: RecordingPublisher, until: Until
) -> None:
    order_id = str(ObjectId())
    expires_at = datetime.now(UTC) + timedelta(seconds=0.3)

    assert await queue_of(app).schedule_expiration(order_id, expires_at)
    assert not await queue_of(app).schedule_expiration(order_id, expires_at)
    await until(lambda: publisher.published, within=5)
    assert not await queue_of(app).schedule_expiration(order_id, expires_at)

    await asyncio.sleep(0.5)  # time for a second run, were there one
    assert len(publisher.published) == 1


async def test_a_job_whose_publish_fails_is_retried_not_dropped(
    app: FastAPI, publisher: RecordingPublisher, redis_url: str, until: Until
) -> None:
    order_id = str(ObjectId())
    publisher.fail = True
    await queue_of(app).schedule_expiration(order_id, datetime.now(UTC))

    await until(lambda: app.state.dependencies.worker.worker.jobs_retried >= 1, within=5)
    assert publisher.published == []
    redis = Redis.from_url(redis_url)
    retry_at = await redis.zscore(QUEUE_NAME, order_id)
    await redis.aclose()
    assert retry_at is not None, "the job must stay queued"
    assert retry_at > time.time() * 1000 + RETRY_DELAYS[0] * 1000 / 2

    publisher.fail = False
    await until(lambda: publisher.published, within=RETRY_DELAYS[0] + 3)

    assert publisher.of(Subjects.EXPIRATION_COMPLETE) == [{"orderId": order_id}]


async def test_jobs_survive_a_restart_of_the_service(
    service: ServiceSpec[Any, Any], settings: ExpirationSettings, until: Until
) -> None:
    order_id = str(ObjectId())
    first_publisher, second_publisher = RecordingPublisher(), RecordingPublisher()

    async with running(service.create_app(settings, publisher=first_publisher)) as first:
        await queue_of(first).schedule_expiration(
            order_id, datetime.now(UTC) + timedelta(seconds=1)
        )
    assert first_publisher.published == []

    async with running(service.create_app(settings, publisher=second_publisher)):
        await until(lambda: second_publisher.published, within=5)

    assert second_publisher.of(Subjects.EXPIRATION_COMPLETE) == [{"orderId": order_id}]
    assert first_publisher.published == []
