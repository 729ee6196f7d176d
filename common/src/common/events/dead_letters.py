"""Dead letters: the events a listener sets aside, kept where an operator can see them.

A listener sets an event aside when its payload fails the event's schema, or when its handler
failed on every one of the consumer's deliveries. Instead of vanishing with a log line, the
event is stored in the dead-letter stream (`TICKETING_DEAD`, made by `ensure_stream`) under
`dead.<service>.<subject>`, with its original headers and payload and headers that say who
set it aside and why (`SERVICE`, `CONSUMER`, `REASON`, `DELIVERIES`, `SEQUENCE`, `SUBJECT`).
It is identified by its sequence in that stream.

Replaying a dead letter (`replay`) sends it back to the consumer that set it aside, and to no
other: it is published again on its original subject with `REPLAY_FOR` naming that durable
consumer, and every other consumer of the subject acks it without applying it (the listener's
`handle`). The dead letter is then deleted; if it fails again, it is set aside again.
`ticketing-admin dead ...` (`common.admin`) is the operator's way to these functions.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from common.events.stream import DEAD_STREAM_NAME, DEAD_SUBJECT_PREFIX

logger = logging.getLogger(__name__)

HEADER_PREFIX = "Ticketing-Dead-"
SERVICE = f"{HEADER_PREFIX}Service"
CONSUMER = f"{HEADER_PREFIX}Consumer"
REASON = f"{HEADER_PREFIX}Reason"
DELIVERIES = f"{HEADER_PREFIX}Deliveries"
SEQUENCE = f"{HEADER_PREFIX}Sequence"
"""The event's sequence in the event stream."""
SUBJECT = f"{HEADER_PREFIX}Subject"
ORIGINAL_MSG_ID = f"{HEADER_PREFIX}Msg-Id"
REPLAY_FOR = "Ticketing-Replay-For"
"""On a replayed event: the one durable consumer that applies it (the others ack it)."""
MSG_ID = "Nats-Msg-Id"
PUBLISH_EXPECTATIONS = "Nats-Expected-"
"""Headers of a publish's conditions (the dead letter's own stream), not the event's."""

MAX_REASON_LENGTH = 500


def dead_subject(service: str, subject: str) -> str:
    return f"{DEAD_SUBJECT_PREFIX}{service}.{subject}"


def header_value(text: str, limit: int = MAX_REASON_LENGTH) -> str:
    """`text` as one header line: no line breaks, at most `limit` characters."""
    return " ".join(text.split())[:limit]


def dead_letter_headers(
    original: Mapping[str, str] | None,
    *,
    service: str,
    consumer: str,
    subject: str,
    reason: str,
    deliveries: int,
    sequence: int | None,
) -> dict[str, str]:
    headers = {k: v for k, v in (original or {}).items() if not k.startswith(HEADER_PREFIX)}
    headers.pop(REPLAY_FOR, None)
    if MSG_ID in headers:
        headers[ORIGINAL_MSG_ID] = headers.pop(MSG_ID)
    headers.update(
        {
            SERVICE: service,
            CONSUMER: consumer,
            SUBJECT: subject,
            REASON: header_value(reason),
            DELIVERIES: str(deliveries),
            SEQUENCE: str(sequence or 0),
            # Set aside once per delivery chain: a repeat (a retried publish) is dropped.
            MSG_ID: f"dead:{consumer}:{sequence or headers.get(ORIGINAL_MSG_ID, '')}",
        }
    )
    return headers


async def set_aside(
    js: JetStreamContext,
    data: bytes,
    headers: dict[str, str],
    *,
    attempts: int = 3,
    wait: float = 2.0,
) -> bool:
    """Store a dead letter made by `dead_letter_headers`; False if JetStream would not."""
    subject = dead_subject(headers[SERVICE], headers[SUBJECT])
    for attempt in range(1, attempts + 1):
        try:
            await js.publish(subject, data, timeout=wait, stream=DEAD_STREAM_NAME, headers=headers)
            return True
        except Exception as error:
            logger.warning("dead letter to %s not stored (try %d): %s", subject, attempt, error)
    return False


@dataclass(frozen=True)
class DeadLetter:
    id: int
    """Its sequence in the dead-letter stream."""
    service: str
    consumer: str
    subject: str
    reason: str
    deliveries: int
    sequence: int
    set_aside_at: datetime | None
    data: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, raw: RawStreamMsg) -> DeadLetter:
        headers = dict(raw.headers or {})
        return cls(
            id=int(raw.seq or 0),
            service=headers.get(SERVICE, "?"),
            consumer=headers.get(CONSUMER, "?"),
            subject=headers.get(SUBJECT, "?"),
            reason=headers.get(REASON, ""),
            deliveries=int(headers.get(DELIVERIES, "0") or 0),
            sequence=int(headers.get(SEQUENCE, "0") or 0),
            set_aside_at=raw.time if isinstance(raw.time, datetime) else None,
            data=raw.data or b"",
            headers=headers,
        )

    def original_headers(self) -> dict[str, str]:
        """The headers the event had when it was delivered (its trace context among them)."""
        headers = {
            k: v
            for k, v in self.headers.items()
            if not k.startswith((HEADER_PREFIX, PUBLISH_EXPECTATIONS))
        }
        headers.pop(MSG_ID, None)
        if ORIGINAL_MSG_ID in self.headers:
            headers[MSG_ID] = self.headers[ORIGINAL_MSG_ID]
        return headers

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "consumer": self.consumer,
            "subject": self.subject,
            "reason": self.reason,
            "deliveries": self.deliveries,
            "sequence": self.sequence,
            "setAsideAt": self.set_aside_at.isoformat() if self.set_aside_at else None,
        }


async def dead_letters(js: JetStreamContext) -> AsyncIterator[DeadLetter]:
    """Every dead letter, oldest first."""
    info = await js.stream_info(DEAD_STREAM_NAME)
    seq, last = info.state.first_seq or 1, info.state.last_seq or 0
    while seq <= last:
        try:
            # The first at or after `seq` (a deleted one - replayed - leaves a gap).
            raw = await js.get_msg(
                DEAD_STREAM_NAME, seq=seq, subject=f"{DEAD_SUBJECT_PREFIX}>", next=True
            )
        except NotFoundError:
            return
        found = int(raw.seq or seq)
        yield DeadLetter.of(raw)
        seq = found + 1


async def dead_letter(js: JetStreamContext, dead_id: int) -> DeadLetter | None:
    try:
        return DeadLetter.of(await js.get_msg(DEAD_STREAM_NAME, seq=dead_id))
    except NotFoundError:
        return None


async def replay(js: JetStreamContext, letter: DeadLetter, wait: float = 5.0) -> int:
    """Send `letter` back to the consumer that set it aside, then delete it; the sequence of
    the replayed event in the event stream."""
    headers = letter.original_headers()
    headers[REPLAY_FOR] = letter.consumer
    headers[MSG_ID] = f"replay:{letter.consumer}:{letter.id}"
    ack = await js.publish(letter.subject, letter.data, timeout=wait, headers=headers)
    await js.delete_msg(DEAD_STREAM_NAME, letter.id)
    return int(ack.seq)
