"""Publishing to JetStream. Services publish through the outbox, which calls this."""

from __future__ import annotations

import json
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext


class EventPublisher(Protocol):
    async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
        """Store the event in the stream, or raise. `msg_id` deduplicates repeats."""
        ...


class PublishFailed(Exception):
    pass


class JetStreamPublisher:
    def __init__(self, nc: NatsClient, js: JetStreamContext, timeout: float = 2.0) -> None:
        self._nc = nc
        self._js = js
        self._timeout = timeout

    async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
        if not self._nc.is_connected:
            raise PublishFailed("not connected to NATS")
        try:
            await self._js.publish(
                subject,
                json.dumps(data).encode(),
                timeout=self._timeout,
                headers={"Nats-Msg-Id": msg_id},
            )
        except Exception as error:
            raise PublishFailed(str(error)) from error
