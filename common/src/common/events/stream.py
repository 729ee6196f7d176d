"""The NATS connection and the one JetStream stream that holds every subject."""

from __future__ import annotations

import asyncio
import logging

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError

from common.events.subjects import Subjects

logger = logging.getLogger(__name__)

STREAM_NAME = "TICKETING"
DUPLICATE_WINDOW_SECONDS = 600.0
"""How long JetStream remembers a `Nats-Msg-Id`: a repeated publish within it is dropped."""


def stream_config() -> StreamConfig:
    return StreamConfig(
        name=STREAM_NAME,
        subjects=[subject.value for subject in Subjects],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
    )


async def ensure_stream(js: JetStreamContext) -> None:
    """Create the stream, or bring an existing one to the current configuration."""
    config = stream_config()
    try:
        await js.add_stream(config=config)
    except BadRequestError:
        await js.update_stream(config=config)


async def connect_nats(url: str, client_name: str, *, retry_delay: float = 1.0) -> NatsClient:
    """Connect, waiting for the server if it is not up yet; reconnect for ever afterwards."""
    while True:
        try:
            return await nats.connect(
                url,
                name=client_name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=retry_delay,
                connect_timeout=2,
            )
        except (TimeoutError, OSError, nats.errors.NoServersError) as error:
            logger.warning("NATS at %s not reachable (%s); retrying", url, error)
            await asyncio.sleep(retry_delay)
