"""Publishing to JetStream. Services publish through the outbox, which calls this.

When JetStream cannot store an event - typically for the few seconds a clustered stream takes
to elect a new leader after its leader's node is lost - the publisher also sends the event
once on the fast lane (`common.events.fast_lane`), so that listeners can act on it at once,
and reports the failure: the caller keeps the event (the outbox, an expiration job) and
publishes it to JetStream again until it is stored. For `DEGRADED_SECONDS` after a failure,
events that JetStream does store are sent on the fast lane as well: consumers whose leader
was on the lost node elect theirs on their own clock, possibly after the stream. JetStream
stays the record; the fast lane only shortens the wait.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from common.events.fast_lane import fast_lane_subject
from common.observability.metrics import EVENTS_PUBLISH_FAILED, EVENTS_PUBLISHED
from common.observability.tracing import publishing

logger = logging.getLogger(__name__)


class EventPublisher(Protocol):
    async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
        """Store the event in the stream, or raise. `msg_id` deduplicates repeats."""
        ...


class PublishFailed(Exception):
    pass


DEGRADED_SECONDS = 12.0
"""How long after a failed publish every event also takes the fast lane: longer than
nats-server's longest Raft election timeout (9 s), so every consumer has a leader again."""


class JetStreamPublisher:
    remembered_fast_lane_ids = 10_000
    """How many event ids sent on the fast lane are remembered, so that the retries of one
    event are not sent again."""

    def __init__(
        self, nc: NatsClient, js: JetStreamContext, timeout: float = 2.0, *, service: str = ""
    ) -> None:
        """`service` names the publisher in its metrics and spans."""
        self.service = service
        self._nc = nc
        self._js = js
        self._timeout = timeout
        self._sent_on_fast_lane: OrderedDict[str, None] = OrderedDict()
        self._degraded_until = 0.0

    async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
        if not self._nc.is_connected:
            raise PublishFailed("not connected to NATS")
        payload = json.dumps(data).encode()
        headers = {"Nats-Msg-Id": msg_id}
        with publishing(self.service, subject, headers):  # the trace goes with the event
            try:
                await self._js.publish(subject, payload, timeout=self._timeout, headers=headers)
            except Exception as error:
                EVENTS_PUBLISH_FAILED.labels(self.service, subject).inc()
                self._degraded_until = time.monotonic() + DEGRADED_SECONDS
                await self._send_on_fast_lane(subject, payload, headers)
                raise PublishFailed(str(error) or type(error).__name__) from error
            EVENTS_PUBLISHED.labels(self.service, subject).inc()
            if time.monotonic() < self._degraded_until:
                await self._send_on_fast_lane(subject, payload, headers)

    async def _send_on_fast_lane(
        self, subject: str, payload: bytes, headers: dict[str, str]
    ) -> None:
        msg_id = headers["Nats-Msg-Id"]
        if msg_id in self._sent_on_fast_lane or not self._nc.is_connected:
            return
        try:
            await self._nc.publish(fast_lane_subject(subject), payload, headers=headers)
        except Exception as error:  # the event is kept by the caller either way
            logger.debug("fast lane: %s %s not sent: %s", subject, msg_id, error)
            return
        self._sent_on_fast_lane[msg_id] = None
        while len(self._sent_on_fast_lane) > self.remembered_fast_lane_ids:
            self._sent_on_fast_lane.popitem(last=False)
