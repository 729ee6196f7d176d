"""The fan-out of a replica's events to its pages (in memory, no NATS)."""

from __future__ import annotations

from client.fanout import CatchUp, Fanout
from common.events.watch import StreamEvent


def event(sequence: int, subject: str = "ticket:created") -> StreamEvent:
    return StreamEvent(sequence, subject, {"id": f"t{sequence}"})


def tickets(item: StreamEvent) -> str | None:
    return item.data["id"] if item.subject == "ticket:created" else None


def test_the_buffer_covers_the_events_after_the_last_one_it_let_go() -> None:
    fanout = Fanout(started_after=10, size=3)
    for sequence in (11, 13, 14):
        fanout.publish(event(sequence))
    assert fanout.covered_after == 10
    fanout.publish(event(15))
    assert (fanout.covered_after, fanout.last) == (11, 15)


def test_a_page_resuming_is_given_the_buffered_events_after_its_position() -> None:
    fanout = Fanout(started_after=10, size=3)
    for item in (event(11), event(12), event(13, "order:cancelled"), event(14)):
        fanout.publish(item)

    inside = fanout.subscribe(tickets, after=11)
    assert (inside.backlog, inside.catch_up) == ([(12, "t12"), (14, "t14")], None)
    before = fanout.subscribe(tickets, after=5)
    assert before.catch_up == CatchUp(after=5, until=11)
    assert before.backlog == [(12, "t12"), (14, "t14")]
    new = fanout.subscribe(tickets, after=None)
    assert (new.backlog, new.catch_up) == ([], None)

    fanout.publish(event(14))  # a repeat: ignored
    fanout.publish(event(16))
    for subscription in (inside, before, new):
        assert subscription.queue.get_nowait() == (16, "t16")
        assert subscription.queue.empty()


def test_a_page_that_falls_a_queue_behind_is_dropped_and_the_others_go_on() -> None:
    fanout = Fanout(started_after=0)
    slow = fanout.subscribe(tickets, after=None, queue_size=2)
    quick = fanout.subscribe(tickets, after=None, queue_size=2)
    for sequence in range(1, 6):
        fanout.publish(event(sequence))
        assert quick.queue.get_nowait() == (sequence, f"t{sequence}")
    assert slow.overflowed
    assert not quick.overflowed
    assert [slow.queue.get_nowait() for _ in range(2)] == [(1, "t1"), (2, "t2")]
    assert slow.queue.empty(), "no longer offered events"
    assert fanout.subscribers == 1
