"""Optimistic concurrency: a read-change-write that lost a race runs again on fresh data."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from common.database import VersionConflict

T = TypeVar("T")

ATTEMPTS = 8


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """Run `attempt` (which re-reads what it changes) until it stores without a
    `VersionConflict`; after `attempts` losses the conflict propagates (409 / redelivery)."""
    for n in range(1, attempts + 1):
        try:
            return await attempt()
        except VersionConflict:
            if n == attempts:
                raise
            await asyncio.sleep(random.uniform(0, 0.005 * n))  # spread the retrying writers
    raise AssertionError("unreachable")
