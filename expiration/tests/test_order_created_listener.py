from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from common.events.subjects import Subjects
from expiration.events.listeners.order_created import OrderCreatedListener
from expiration.queue import QUEUE_NAME, ExpirationQueue
from testsupport.doubles import FakeMsg, RecordingPublisher
from testsupport.events import order_created
from testsupport.plugin import Deliver
from testsupport.servers import free_port

Until = Callable[..., Awaitable[float]]


async def test_listener_belongs_to_the_expiration_group() -> None:
    assert OrderCreatedListener.subject == Subjects.ORDER_CREATED
    assert OrderCreatedListener.queue_group == "expiration-service"


async def test_schedules_a_job_for_expires_at_and_acks(deliver: Deliver, redis: Redis) -> None:
    expires_at = datetime.now(UTC) + timedelta(minutes=15)
    event = order_created(expires_at=expires_at)

    msg = await deliver(event, to=OrderCreatedListener)

    assert msg.acked
    score = await redis.zscore(QUEUE_NAME, event.id)
    assert score is not None
    assert abs(score - expires_at.timestamp() * 1000) < 2


async def test_a_redelivered_order_created_schedules_once(deliver: Deliver, redis: Redis) -> None:
    event = order_created()  # 15 minutes left

    first = await deliver(event, to=OrderCreatedListener)
    second = await deliver(event, to=OrderCreatedListener, delivered=2)

    assert first.acked
    assert second.acked
    assert await redis.zcard(QUEUE_NAME) == 1


async def test_a_duplicate_after_the_job_ran_schedules_nothing(
    deliver: Deliver, redis: Redis, publisher: RecordingPublisher, until: Until
) -> None:
    event = order_created(expires_at=datetime.now(UTC))
    await deliver(event, to=OrderCreatedListener)
    await until(lambda: len(publisher.published) == 1)

    late = await deliver(event, to=OrderCreatedListener, delivered=3)

    assert late.acked
    assert await redis.zcard(QUEUE_NAME) == 0
    assert len(publisher.published) == 1


async def test_redis_unreachable_leaves_the_event_for_redelivery() -> None:
    queue = ExpirationQueue(f"redis://127.0.0.1:{free_port()}/0")
    msg = FakeMsg.of(order_created())

    await OrderCreatedListener(queue=queue).handle(msg)
    await queue.close()

    assert msg.naked
    assert not msg.acked


async def test_a_payload_without_expires_at_is_terminated(deliver: Deliver) -> None:
    data = order_created().to_wire()
    del data["expiresAt"]

    msg = await deliver(data, to=OrderCreatedListener)

    assert msg.termed
    assert not msg.acked
