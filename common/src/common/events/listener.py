"""The base listener: a durable JetStream pull consumer shared by every replica of a service.

A concrete listener names its subject, its queue group and its event model, implements
`on_message`, and receives what it needs in its constructor. The base class acks only after
`on_message` returns (its effect is stored), retries a failing handler after a growing delay,
sets an event aside (logged, terminated) after `max_deliver` attempts, and terminates a
payload that fails its schema at once.

While the database does not answer at all, the event in hand is retried where it is (kept
from redelivery with `in_progress`) until the database is back: an outage, however long,
does not use up the event's deliveries and never sets an event aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError

from common.errors import database_unreachable
from common.events.schemas import Event
from common.events.stream import STREAM_NAME
from common.events.subjects import Subjects

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
    outage_retry_delays: ClassVar[tuple[float, ...]] = (0.5, 1.0, 2.0, 5.0)
    """Pauses between attempts on the event in hand while the database is unreachable."""

    @abstractmethod
    async def on_message(self, data: E, msg: Message) -> None:
        """Apply the event. Return to ack; raise `EventOutOfOrder` or any error to retry."""

    @classmethod
    def durable_name(cls) -> str:
        return f"{cls.queue_group}--{cls.subject.value.replace(':', '-')}"

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
        try:
            data = self.event_model.model_validate_json(msg.data)
        except ValidationError as error:
            logger.error(
                "%s: invalid %s payload terminated: %s (%s)",
                self.queue_group,
                self.subject,
                msg.data[:500],
                error.errors()[:3],
            )
            await msg.term()
            return

        attempt = int(msg.metadata.num_delivered)
        try:
            await self._apply_through_outages(data, msg, stop)
        except Exception as error:
            if attempt >= self.max_deliver:
                logger.error(
                    "%s: %s set aside after %d deliveries: %s; payload %s",
                    self.queue_group,
                    self.subject,
                    attempt,
                    error,
                    msg.data[:500],
                )
                await msg.term()
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

    async def run(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Fetch and handle events until `stop` is set; the event in hand is finished first."""
        subscription = None
        try:
            while not stop.is_set():
                try:
                    if subscription is None:
                        subscription = await js.pull_subscribe(
                            self.subject.value,
                            durable=self.durable_name(),
                            stream=STREAM_NAME,
                            config=self.consumer_config(),
                        )
                    messages = await subscription.fetch(self.fetch_batch, timeout=1.0)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    logger.warning(
                        "%s: fetching %s failed: %s", self.queue_group, self.subject, error
                    )
                    subscription = None
                    await asyncio.sleep(1.0)
                    continue
                for message in messages:
                    try:
                        await self.handle(message, stop)
                    except Exception:
                        # Settling failed (connection lost): JetStream redelivers after ack_wait.
                        logger.exception("%s: could not settle %s", self.queue_group, self.subject)
        finally:
            if subscription is not None:
                # Hand back what was fetched but not settled, so `drain()` need not wait for it.
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()
