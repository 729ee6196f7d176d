"""The fast lane: an event JetStream could not store yet, sent once over core NATS.

A clustered stream stores nothing while it elects a new leader, which nats-server's Raft does
4 to 9 s after the leader's node is lost (a randomised election timeout, not configurable).
Rather than have every reaction wait that long, a publisher whose JetStream publish fails also
sends the event on `fastlane.<subject>` - plain NATS, which any surviving server routes at
once - and every listener also subscribes there in its queue group, so one replica of each
service handles the event straight away.

JetStream stays the record. The publisher's caller keeps the event (the outbox, an expiration
job) and stores it in the stream as soon as a leader is elected; every listener then receives
it again from its durable consumer. That second delivery is a duplicate, which listeners
already ignore (versions, job ids, handlers that change nothing twice). A fast-lane delivery
that fails, or comes before an event it depends on, is dropped: it is never acked, retried or
set aside - the JetStream delivery does all of that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FAST_LANE_PREFIX = "fastlane."


def fast_lane_subject(subject: str) -> str:
    return f"{FAST_LANE_PREFIX}{subject}"


@dataclass
class FastLaneMetadata:
    num_delivered: int = 1


@dataclass
class FastLaneDelivery:
    """An event received on the fast lane; settling it does nothing (see the module doc)."""

    data: bytes
    metadata: FastLaneMetadata = field(default_factory=FastLaneMetadata)

    async def ack(self) -> None:
        return None

    async def nak(self, delay: float | None = None) -> None:
        return None

    async def in_progress(self) -> None:
        return None

    async def term(self) -> None:
        return None
