"""What the expiration service's listener and worker are given, built once at start-up: the
job queue in Redis and the worker that runs its due jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from common.service import Infrastructure
from expiration.queue import ExpirationQueue
from expiration.settings import ExpirationSettings
from expiration.worker import WorkerRunner

DependencyFactory = Callable[
    [ExpirationSettings, Infrastructure], AbstractAsyncContextManager["ExpirationDependencies"]
]


@dataclass
class ExpirationDependencies:
    queue: ExpirationQueue
    worker: WorkerRunner

    async def readiness(self) -> dict[str, bool]:
        """Ready when Redis answers and the worker runs."""
        return {"redis": await self.queue.ping(), "worker": self.worker.running}


def expiration_dependencies(poll_delay: float) -> DependencyFactory:
    """`poll_delay`: how often (seconds) the worker looks for due jobs."""

    @asynccontextmanager
    async def build(
        settings: ExpirationSettings, infrastructure: Infrastructure
    ) -> AsyncIterator[ExpirationDependencies]:
        if infrastructure.publisher is None:
            raise RuntimeError("the expiration service publishes through NATS")
        queue = ExpirationQueue(settings.REDIS_URL)
        try:
            worker = WorkerRunner(queue, infrastructure.publisher, poll_delay=poll_delay)
            yield ExpirationDependencies(queue, worker)
        finally:
            await queue.close()

    return build
