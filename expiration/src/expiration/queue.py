"""Delayed expiration jobs in Redis (arq): one job per order, keyed by the order id.

The job id is the order id, so scheduling the same order twice (a redelivered order:created)
adds nothing while the job is waiting, running, or its result is kept (`RESULT_TTL`: a day,
far longer than JetStream would ever redeliver an acked event).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis
from prometheus_client import Counter
from redis.asyncio import ConnectionPool

QUEUE_NAME = "arq:expiration"
JOB_FUNCTION = "expire_order"

RESULT_TTL = timedelta(days=1)
"""How long a finished job's result (and so its id) is kept: a duplicate is ignored meanwhile."""
JOBS_SCHEDULED = Counter(
    "ticketing_expiration_jobs_scheduled", "Expiration jobs scheduled (one per order)"
)
RETRY_HORIZON = timedelta(days=7)
"""How long past its due time a job stays in Redis while its publish keeps failing."""


class ExpirationQueue:
    """The arq connection to Redis, used to schedule jobs and by the worker to run them.

    The client connects lazily, so a listener may schedule as soon as it starts and a Redis
    outage only fails the operations that need it (the listener's event is then retried).
    """

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._redis: ArqRedis | None = None

    @property
    def redis(self) -> ArqRedis:
        if self._redis is None:
            pool = ConnectionPool.from_url(
                self.redis_url, socket_connect_timeout=2, socket_timeout=5
            )
            self._redis = ArqRedis(pool, default_queue_name=QUEUE_NAME)
        return self._redis

    async def schedule_expiration(self, order_id: str, expires_at: datetime) -> bool:
        """Schedule the expiration of `order_id` at `expires_at`; False if already scheduled."""
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        delay = max(expires_at - datetime.now(UTC), timedelta(0))
        job = await self.redis.enqueue_job(
            JOB_FUNCTION,
            order_id,
            _job_id=order_id,
            _queue_name=QUEUE_NAME,
            _defer_until=expires_at,
            _expires=delay + RETRY_HORIZON,
        )
        if job is None:
            return False
        JOBS_SCHEDULED.inc()
        return True

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None
