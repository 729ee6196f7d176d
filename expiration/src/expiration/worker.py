"""The arq worker, run inside the service process: when an order's time is up, publish
expiration:complete.

A job whose publish fails raises arq's `Retry`, so it stays in Redis and runs again later
(with a growing delay); it is never dropped while it keeps failing. The event's JetStream
message id is derived from the order id, so a job that published but died before arq
recorded it (and so runs again) is stored by JetStream only once.

Several workers (one per process of the service) share the queue: arq hands each due job to
one of them (its in-progress key, set atomically). If that process dies mid-job, the job stays
queued and another worker runs it once the key lapses (`JOB_TIMEOUT_SECONDS` + arq's 10 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq.constants import job_key_prefix
from arq.worker import Retry, Worker, func

from common.events.publisher import EventPublisher
from common.events.schemas import ExpirationComplete
from expiration.queue import JOB_FUNCTION, QUEUE_NAME, RESULT_TTL, RETRY_HORIZON, ExpirationQueue

logger = logging.getLogger(__name__)

RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before a job whose publish failed runs again, by attempt (the last repeats)."""
MAX_TRIES = 1_000_000
"""Effectively unbounded: a job is retried until it publishes (within `RETRY_HORIZON`)."""
JOB_TIMEOUT_SECONDS = 10
"""A job only publishes one event; if its process dies, another worker picks it up after this
(plus arq's 10 s margin). arq treats a job that overruns it as failed for good, so a job
gives up its publish well before (`PUBLISH_BUDGET_SECONDS`) and asks to be retried."""
PUBLISH_BUDGET_SECONDS = 5.0
"""The longest a job waits on its publish before retrying later."""


def expiration_msg_id(order_id: str) -> str:
    return f"expiration-complete-{order_id}"


def retry_delay(job_try: int) -> float:
    return RETRY_DELAYS[min(max(job_try, 1) - 1, len(RETRY_DELAYS) - 1)]


async def expire_order(ctx: dict[str, Any], order_id: str) -> None:
    """Publish expiration:complete for `order_id`, or ask arq to retry later."""
    publisher: EventPublisher = ctx["publisher"]
    event = ExpirationComplete(order_id=order_id)
    try:
        async with asyncio.timeout(PUBLISH_BUDGET_SECONDS):
            await publisher.publish(
                event.subject.value, event.to_wire(), expiration_msg_id(order_id)
            )
    except Exception as error:
        job_try = int(ctx.get("job_try", 1))
        delay = retry_delay(job_try)
        logger.warning(
            "publishing expiration of order %s failed (try %d): %s; retrying in %.0fs",
            order_id,
            job_try,
            error,
            delay,
        )
        # Keep the job in Redis for as long as it keeps failing.
        with contextlib.suppress(Exception):
            await ctx["redis"].pexpire(
                job_key_prefix + ctx["job_id"], int(RETRY_HORIZON.total_seconds() * 1000)
            )
        raise Retry(defer=delay) from error
    logger.info("order %s expired: expiration:complete published", order_id)


def create_worker(
    queue: ExpirationQueue, publisher: EventPublisher, *, poll_delay: float = 0.5
) -> Worker:
    return Worker(
        functions=[
            func(expire_order, name=JOB_FUNCTION, max_tries=MAX_TRIES, keep_result=RESULT_TTL)
        ],
        queue_name=QUEUE_NAME,
        redis_pool=queue.redis,
        handle_signals=False,
        ctx={"publisher": publisher},
        keep_result=RESULT_TTL,
        max_tries=MAX_TRIES,
        job_timeout=JOB_TIMEOUT_SECONDS,
        poll_delay=poll_delay,
        health_check_interval=60,
    )


class WorkerRunner:
    """Runs an arq `Worker` as a task of the service's event loop, restarting its polling
    loop if Redis goes away, and stopping it gracefully with the service."""

    def __init__(
        self, queue: ExpirationQueue, publisher: EventPublisher, *, poll_delay: float = 0.5
    ) -> None:
        self.queue = queue
        self.publisher = publisher
        self.poll_delay = poll_delay
        self.worker: Worker | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then stop gracefully (see `stop`)."""
        self.start()
        await stop.wait()
        await self.stop()

    def start(self) -> None:
        self.worker = create_worker(self.queue, self.publisher, poll_delay=self.poll_delay)
        self._stopping = False
        self._task = asyncio.create_task(self._run(self.worker))

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self, worker: Worker) -> None:
        while not self._stopping:
            try:
                await worker.main()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if self._stopping:
                    return  # the cancellation surfaced as a Redis error
                logger.warning("expiration worker lost Redis (%s); restarting in 1s", error)
                await asyncio.sleep(1.0)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking jobs, let running ones finish (up to `grace` s), then cancel the rest
        (a cancelled job stays queued and runs again after a restart).

        The polling loop is ended cooperatively (arq's burst mode with nothing left to start):
        a cancellation arriving while arq talks to Redis can be swallowed on the way.
        """
        worker, task = self.worker, self._task
        if worker is None or task is None:
            return
        worker.allow_pick_jobs = False
        running = [t for t in worker.tasks.values() if not t.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=grace)
            for job in late:
                job.cancel()
        self._stopping = True
        worker.burst = True
        worker.max_burst_jobs = 0
        _, pending = await asyncio.wait([task], timeout=self.poll_delay + 5.0)
        if pending:
            task.cancel()
            _, pending = await asyncio.wait([task], timeout=2.0)
        if pending:
            logger.warning("expiration worker did not stop in time")
        self.worker = self._task = None
