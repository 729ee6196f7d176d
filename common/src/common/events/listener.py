"""The base listener: a durable JetStream pull consumer shared by every replica of a service.

A concrete listener names its subject, its queue group and its event model, implements
`on_message`, and receives what it needs in its constructor. The base class acks only after
`on_message` returns (its effect is stored), retries a failing handler after a growing delay,
sets an event aside (logged, terminated) after `max_deliver` attempts, and terminates a
payload that fails its schema at once.

While the database does not answer at all, the event in hand is retried where it is (kept
from redelivery with `in_progress`) until the database is back: an outage, however long,
does not use up the event's deliveries and never sets an event aside.

It also handles events from the fast lane (`common.events.fast_lane`) while the stream cannot
store them, leaving everything that does not apply at once to their JetStream delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from common.errors import database_unreachable
from common.events import dead_letters
from common.events.fast_lane import FastLaneDelivery, fast_lane_subject
from common.events.schemas import Event
from common.events.stream import STREAM_NAME
from common.events.subjects import Subjects
from common.observability.logs import event_context
from common.observability.metrics import (
    EVENTS_DEAD_LETTERED,
    EVENTS_FAILED,
    EVENTS_HANDLED,
    EVENTS_REDELIVERED,
    HANDLER_DURATION,
)
from common.observability.tracing import handling

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


class EventOutOfOrder(Exception):
    """The event is ahead of what this replica has; leave it unacked so it comes back later."""


class Message(Protocol):
    """What a listener needs of a JetStream message (nats-py's `Msg`, or a test double)."""

    data: bytes

    @property
    def metadata(self) -> Any: ...

    async def ack(self) -> None: ...

    async def nak(self, delay: float | None = None) -> None: ...

    async def in_progress(self) -> None: ...

    async def term(self) -> None: ...


class Listener(ABC, Generic[E]):
    subject: ClassVar[Subjects]
    queue_group: ClassVar[str]
    event_model: ClassVar[type[Event]]

    max_deliver: ClassVar[int] = 10
    """Deliveries before a failing event is set aside."""
    ack_wait: ClassVar[float] = 30.0
    """Seconds an unacked delivery waits before JetStream redelivers it."""
    retry_delays: ClassVar[tuple[float, ...]] = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
    """Delay before redelivery after the n-th failed attempt (the last repeats)."""
    fetch_batch: ClassVar[int] = 20
    handles_batch_together: ClassVar[bool] = False
    """Whether the events of a fetched batch are handled at the same time rather than one
    after the other: for events that never depend on each other (e.g. each adds its own
    replica), so that their writes share commands (`common.together`)."""
    outage_retry_delays: ClassVar[tuple[float, ...]] = (0.5, 1.0, 2.0, 5.0)
    """Pauses between attempts on the event in hand while the database is unreachable."""
    fetch_timeout: ClassVar[float] = 1.0
    """Seconds a fetch waits for events before asking again."""
    fetch_retry_delay: ClassVar[float] = 0.25
    """Pause after a failed fetch before the next one."""
    resubscribe_after: ClassVar[float] = 10.0
    """Seconds of failed fetches after which the subscription is made anew."""

    dead_letter_js: JetStreamContext | None = None
    """Where events set aside are stored (set by `run`; without it they are only logged)."""

    @abstractmethod
    async def on_message(self, data: E, msg: Message) -> None:
        """Apply the event. Return to ack; raise `EventOutOfOrder` or any error to retry."""

    @classmethod
    def durable_name(cls) -> str:
        return f"{cls.queue_group}--{cls.subject.value.replace(':', '-')}"

    @classmethod
    def service(cls) -> str:
        """The service this listener belongs to (its queue group names it)."""
        return cls.queue_group.removesuffix("-service")

    @classmethod
    def consumer_config(cls) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=cls.durable_name(),
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=cls.ack_wait,
            max_deliver=cls.max_deliver,
            filter_subject=cls.subject.value,
        )

    def _retry_delay(self, attempt: int) -> float:
        return self.retry_delays[min(attempt - 1, len(self.retry_delays) - 1)]

    async def handle(self, msg: Message, stop: asyncio.Event | None = None) -> None:
        """Parse, apply and settle one delivery (`stop` ends a wait for the database)."""
        headers: Mapping[str, str] = getattr(msg, "headers", None) or {}
        replay_for = headers.get(dead_letters.REPLAY_FOR)
        if replay_for is not None and replay_for != self.durable_name():
            await msg.ack()  # a dead letter replayed to another consumer of the subject
            return
        service, subject = self.service(), self.subject.value
        event_id = headers.get(dead_letters.MSG_ID)
        if int(msg.metadata.num_delivered) > 1:
            EVENTS_REDELIVERED.labels(service, subject).inc()
        with event_context(subject, event_id), handling(service, subject, headers, event_id):
            started = time.perf_counter()
            try:
                await self._settle(msg, stop, headers)
            finally:
                HANDLER_DURATION.labels(service, subject).observe(time.perf_counter() - started)

    async def _settle(
        self, msg: Message, stop: asyncio.Event | None, headers: Mapping[str, str]
    ) -> None:
        try:
            data = self.event_model.model_validate_json(msg.data)
        except ValidationError as error:
            logger.error(
                "%s: invalid %s payload set aside: %s (%s)",
                self.queue_group,
                self.subject,
                msg.data[:500],
                error.errors()[:3],
            )
            reason = f"invalid payload: {error.errors()[:3]}"
            await self._set_aside(msg, headers, "invalid", reason)
            return

        attempt = int(msg.metadata.num_delivered)
        try:
            await self._apply_through_outages(data, msg, stop)
        except Exception as error:
            EVENTS_FAILED.labels(self.service(), self.subject.value).inc()
            if attempt >= self.max_deliver:
                logger.error(
                    "%s: %s set aside after %d deliveries: %s; payload %s",
                    self.queue_group,
                    self.subject,
                    attempt,
                    error,
                    msg.data[:500],
                )
                reason = f"failed {attempt} deliveries: {type(error).__name__}: {error}"
                await self._set_aside(msg, headers, "deliveries", reason)
                return
            if isinstance(error, EventOutOfOrder):
                logger.info(
                    "%s: %s out of order (%s); retrying", self.queue_group, self.subject, error
                )
            else:
                logger.exception(
                    "%s: handler for %s failed (attempt %d)",
                    self.queue_group,
                    self.subject,
                    attempt,
                )
            await msg.nak(delay=self._retry_delay(attempt))
            return
        await msg.ack()
        EVENTS_HANDLED.labels(self.service(), self.subject.value).inc()

    async def _set_aside(
        self, msg: Message, headers: Mapping[str, str], kind: str, reason: str
    ) -> None:
        """Store the event in the dead-letter stream, then terminate its delivery."""
        EVENTS_DEAD_LETTERED.labels(self.service(), self.subject.value, kind).inc()
        js = self.dead_letter_js
        if js is not None:
            metadata = msg.metadata
            sequence = getattr(getattr(metadata, "sequence", None), "stream", None)
            dead = dead_letters.dead_letter_headers(
                dict(headers),
                service=self.service(),
                consumer=self.durable_name(),
                subject=self.subject.value,
                reason=reason,
                deliveries=int(metadata.num_delivered),
                sequence=sequence,
            )
            if not await dead_letters.set_aside(js, msg.data, dead):
                logger.error(
                    "%s: %s could not be stored as a dead letter; terminated",
                    self.queue_group,
                    self.subject,
                )
        await msg.term()

    async def _apply_through_outages(
        self, data: Event, msg: Message, stop: asyncio.Event | None
    ) -> None:
        """`on_message`, attempted again while the database is unreachable (until `stop`)."""
        waits = 0
        while True:
            try:
                await self.on_message(cast(E, data), msg)
                return
            except Exception as error:
                if not database_unreachable(error) or (stop is not None and stop.is_set()):
                    raise
                delay = self.outage_retry_delays[min(waits, len(self.outage_retry_delays) - 1)]
                waits += 1
                logger.warning(
                    "%s: database unreachable while handling %s; trying again in %.1fs: %s",
                    self.queue_group,
                    self.subject,
                    delay,
                    error,
                )
            await msg.in_progress()  # JetStream keeps it ours meanwhile
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _handle_logged(self, msg: Message, stop: asyncio.Event) -> None:
        try:
            await self.handle(msg, stop)
        except Exception:
            # Settling failed (connection lost): JetStream redelivers after ack_wait.
            logger.exception("%s: could not settle %s", self.queue_group, self.subject)

    async def handle_fast_lane(self, data: bytes) -> None:
        """Apply an event from the fast lane (`common.events.fast_lane`) if it applies now;
        otherwise leave it to its JetStream delivery, which comes later and is settled."""
        try:
            event = self.event_model.model_validate_json(data)
            await self.on_message(cast(E, event), FastLaneDelivery(data))
        except Exception as error:
            logger.info(
                "%s: %s from the fast lane left to JetStream (%s)",
                self.queue_group,
                self.subject,
                error,
            )

    async def listen_on_fast_lane(self, nc: NatsClient) -> Subscription:
        """Subscribe to this subject's fast lane, one replica of the group receiving each."""

        async def deliver(msg: Msg) -> None:
            await self.handle_fast_lane(msg.data)

        return await nc.subscribe(
            fast_lane_subject(self.subject.value), queue=self.durable_name(), cb=deliver
        )

    async def run(
        self, js: JetStreamContext, stop: asyncio.Event, nc: NatsClient | None = None
    ) -> None:
        """Fetch and handle events until `stop` is set; the event in hand is finished first.
        With `nc`, events on the fast lane are handled as well.

        A failed fetch (the consumer is electing a leader, the connection is moving to another
        server) is tried again after `fetch_retry_delay`, on the same subscription: the durable
        consumer outlives both. Only after `resubscribe_after` seconds of failures is the
        subscription made anew (which also re-creates a consumer that was deleted).
        """
        self.dead_letter_js = js
        fast_lane = await self._listen_on_fast_lane_if(nc)
        consumer = _Consumer(self, js)
        try:
            while not stop.is_set():
                messages = await consumer.fetch()
                if self.handles_batch_together:
                    await asyncio.gather(*(self._handle_logged(m, stop) for m in messages))
                else:
                    for message in messages:
                        await self._handle_logged(message, stop)
        finally:
            for held in (fast_lane, consumer.subscription):
                if held is not None:
                    # Hand back what was fetched but not settled, so `drain()` need not wait.
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(held.unsubscribe(), timeout=2)

    async def _listen_on_fast_lane_if(self, nc: NatsClient | None) -> Subscription | None:
        if nc is None:
            return None
        try:
            return await self.listen_on_fast_lane(nc)
        except Exception as error:  # JetStream still delivers everything, only later
            logger.warning("%s: no fast lane for %s: %s", self.queue_group, self.subject, error)
            return None

    def _recovered(self, failing_since: float | None) -> float | None:
        """A fetch worked: say so if fetches were failing. The new `failing_since` (None)."""
        if failing_since is not None:
            logger.warning(
                "%s: fetching %s works again after %.1fs",
                self.queue_group,
                self.subject,
                asyncio.get_running_loop().time() - failing_since,
            )
        return None


class _Consumer:
    """A listener's pull subscription to its durable consumer, fetched from patiently."""

    def __init__(self, listener: Listener[Any], js: JetStreamContext) -> None:
        self.listener, self.js = listener, js
        self.subscription: JetStreamContext.PullSubscription | None = None
        self.failing_since: float | None = None

    async def fetch(self) -> list[Msg]:
        """The next batch (empty after a quiet wait or a failed fetch, which is retried after
        a pause on the same subscription; made anew only after long failure)."""
        listener = self.listener
        try:
            if self.subscription is None:
                self.subscription = await self.js.pull_subscribe(
                    listener.subject.value,
                    durable=listener.durable_name(),
                    stream=STREAM_NAME,
                    config=listener.consumer_config(),
                )
            messages = await self.subscription.fetch(
                listener.fetch_batch, timeout=listener.fetch_timeout
            )
        except (TimeoutError, NatsTimeoutError):
            self.failing_since = listener._recovered(self.failing_since)
            return []
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self._failed(error)
            return []
        self.failing_since = listener._recovered(self.failing_since)
        return messages

    async def _failed(self, error: Exception) -> None:
        listener = self.listener
        now = asyncio.get_running_loop().time()
        if self.failing_since is None:
            self.failing_since = now
            logger.warning(
                "%s: fetching %s failed: %s; retrying",
                listener.queue_group,
                listener.subject,
                error or type(error).__name__,
            )
        if self.subscription is not None and now - self.failing_since > listener.resubscribe_after:
            with contextlib.suppress(Exception):
                await self.subscription.unsubscribe()
            self.subscription = None
            self.failing_since = now
        await asyncio.sleep(listener.fetch_retry_delay)
