"""Test doubles: a publisher that records, and a JetStream message that records its settling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from common.events.publisher import PublishFailed
from common.events.schemas import Event


@dataclass
class PublishedEvent:
    subject: str
    data: dict[str, Any]
    msg_id: str


class RecordingPublisher:
    """Records what would be published; `fail = True` makes it behave like NATS being down.

    Like JetStream within its duplicate window, a repeated message id is stored once
    (`repeats` counts the dropped copies).
    """

    def __init__(self) -> None:
        self.published: list[PublishedEvent] = []
        self.repeats = 0
        self.fail = False

    async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
        if self.fail:
            raise PublishFailed("recording publisher set to fail")
        if any(event.msg_id == msg_id for event in self.published):
            self.repeats += 1
            return
        self.published.append(PublishedEvent(subject, data, msg_id))

    def subjects(self) -> list[str]:
        return [event.subject for event in self.published]

    def of(self, subject: str) -> list[dict[str, Any]]:
        return [event.data for event in self.published if event.subject == subject]


@dataclass
class _Metadata:
    num_delivered: int = 1


@dataclass
class FakeMsg:
    """A delivered JetStream message as a listener sees it, recording ack / nak / term."""

    data: bytes
    metadata: _Metadata = field(default_factory=_Metadata)
    acked: bool = False
    naked: bool = False
    nak_delay: float | None = None
    termed: bool = False
    in_progress_calls: int = 0

    @classmethod
    def of(cls, event: Event | dict[str, Any] | bytes, delivered: int = 1) -> FakeMsg:
        if isinstance(event, Event):
            import json

            data = json.dumps(event.to_wire()).encode()
        elif isinstance(event, dict):
            import json

            data = json.dumps(event).encode()
        else:
            data = event
        return cls(data=data, metadata=_Metadata(num_delivered=delivered))

    async def ack(self) -> None:
        self.acked = True

    async def nak(self, delay: float | None = None) -> None:
        self.naked = True
        self.nak_delay = delay

    async def in_progress(self) -> None:
        self.in_progress_calls += 1

    async def term(self) -> None:
        self.termed = True


def refusal(message: str, field: str | None = None) -> dict[str, list[dict[str, str]]]:
    """The body of an API answer refusing a request, in the contract's error shape: what a
    fake API answers (`{"errors": [{"message": ..., "field": ...}]}`)."""
    error = {"message": message} if field is None else {"message": message, "field": field}
    return {"errors": [error]}
