from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from fastapi import FastAPI
from redis.asyncio import Redis

from common.events.schemas import OrderCreated, OrderTicket
from common.events.subjects import OrderStatus, Subjects
from expiration.events.listeners.order_created import OrderCreatedListener
from expiration.queue import QUEUE_NAME, ExpirationQueue
from testsupport.doubles import FakeMsg, RecordingPublisher
from testsupport.servers import free_port

Until = Callable[..., Awaitable[float]]


def order_created(expires_at: datetime) -> OrderCreated:
    return OrderCreated(
        id=str(ObjectId()),
        version=0,
        status=OrderStatus.CREATED,
        user_id=str(ObjectId()),
        expires_at=expires_at,
        ticket=OrderTicket(id=str(ObjectId()), price=20),
    )


def listener_of(app: FastAPI) -> OrderCreatedListener:
    (listener,) = app.state.listeners
    assert isinstance(listener, OrderCreatedListener)
    return listener


async def test_listener_belongs_to_the_expiration_group() -> None:
    assert OrderCreatedListener.subject == Subjects.ORDER_CREATED
    assert OrderCreatedListener.queue_group == "expiration-service"


async def test_schedules_a_job_for_expires_at_and_acks(app: FastAPI, redis_url: str) -> None:
    expires_at = datetime.now(UTC) + timedelta(minutes=15)
    event = order_created(expires_at)
    msg = FakeMsg.of(event)

    await listener_of(app).handle(msg)

    assert msg.acked
    redis = Redis.from_url(redis_url)
    score = await redis.zscore(QUEUE_NAME, event.id)
    await redis.aclose()
    assert score is not None
    assert abs(score - expires_at.timestamp() * 1000) < 2


async def test_a_redelivered_order_created_schedules_once(app: FastAPI, redis_url: str) -> None:
    event = order_created(datetime.now(UTC) + timedelta(minutes=15))
    first, second = FakeMsg.of(event), FakeMsg.of(event, delivered=2)

    await listener_of(app).handle(first)
    await listener_of(app).handle(second)

    assert first.acked
    assert second.acked
    redis = Redis.from_url(redis_url)
    assert await redis.zcard(QUEUE_NAME) == 1
    await redis.aclose()


async def test_a_duplicate_after_the_job_ran_schedules_nothing(
    app: FastAPI, redis_url: str, publisher: RecordingPublisher, until: Until
) -> None:
    event = order_created(datetime.now(UTC))
    await listener_of(app).handle(FakeMsg.of(event))
    await until(lambda: len(publisher.published) == 1)

    late = FakeMsg.of(event, delivered=3)
    await listener_of(app).handle(late)

    assert late.acked
    redis = Redis.from_url(redis_url)
    assert await redis.zcard(QUEUE_NAME) == 0
    await redis.aclose()
    assert len(publisher.published) == 1


async def test_redis_unreachable_leaves_the_event_for_redelivery() -> None:
    queue = ExpirationQueue(f"redis://127.0.0.1:{free_port()}/0")
    msg = FakeMsg.of(order_created(datetime.now(UTC) + timedelta(minutes=15)))

    await OrderCreatedListener(queue=queue).handle(msg)
    await queue.close()

    assert msg.naked
    assert not msg.acked


async def test_a_payload_without_expires_at_is_terminated(app: FastAPI) -> None:
    data = order_created(datetime.now(UTC)).to_wire()
    del data["expiresAt"]
    msg = FakeMsg.of(data)

    await listener_of(app).handle(msg)

    assert msg.termed
    assert not msg.acked
