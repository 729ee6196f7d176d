"""The expiration service's own gauges: jobs due or overdue now (a job is overdue when its
order should have expired `OVERDUE_SECONDS` ago and it has not run: the worker is stuck, or
its publish keeps failing). Jobs scheduled are counted where they are (`queue`)."""

from __future__ import annotations

import time

from prometheus_client import Gauge

from common.observability.metrics import Observation
from expiration.queue import QUEUE_NAME, ExpirationQueue

OVERDUE_SECONDS = 30.0

JOBS_DUE = Gauge(
    "ticketing_expiration_jobs_due", "Expiration jobs whose time has come and that have not run"
)
JOBS_OVERDUE = Gauge(
    "ticketing_expiration_jobs_overdue",
    f"Expiration jobs due for more than {OVERDUE_SECONDS:.0f} s that have not run",
)


def job_backlog(queue: ExpirationQueue) -> Observation:
    """Counts the queued jobs by due time (arq keeps them in a sorted set scored by it, in
    milliseconds)."""

    async def observe() -> None:
        now_ms = time.time() * 1000
        redis = queue.redis
        JOBS_DUE.set(await redis.zcount(QUEUE_NAME, "-inf", now_ms))
        JOBS_OVERDUE.set(await redis.zcount(QUEUE_NAME, "-inf", now_ms - OVERDUE_SECONDS * 1000))

    return observe
