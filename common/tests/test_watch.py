"""Watching the stream (live pages): every watcher gets every event of its subjects, in
order, from the sequence it asks for, with nothing taken from the services' consumers."""

import uuid

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from common.events.publisher import JetStreamPublisher
from common.events.schemas import Event, OrderCancelled, TicketCreated, TicketUpdated
from common.events.subjects import Subjects
from common.events.watch import StreamEvent, position, watch
from testsupport.events import order_cancelled

WATCHED = [Subjects.TICKET_CREATED, Subjects.TICKET_UPDATED]


def created(n: int) -> TicketCreated:
    return TicketCreated(id=f"t{n}", version=0, title=f"concert {n}", price=10, user_id="u")


def updated(n: int) -> TicketUpdated:
    return TicketUpdated(id=f"t{n}", version=1, title="x", price=10, user_id="u", order_id="o")


async def publish(nc: NatsClient, js: JetStreamContext, *events: Event) -> None:
    publisher = JetStreamPublisher(nc, js)
    for event in events:
        await publisher.publish(event.subject, event.to_wire(), msg_id=uuid.uuid4().hex)


async def received(js: JetStreamContext, after: int | None, count: int) -> list[StreamEvent]:
    got: list[StreamEvent] = []
    async with watch(js, WATCHED, after) as events:
        while len(got) < count:
            event = await events.next(within=5)
            assert event is not None, f"only {len(got)} of {count} events came"
            got.append(event)
        assert await events.next(within=0.3) is None, "nothing more"
    return got


async def test_two_watchers_each_get_every_event_of_their_subjects_in_order(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = jetstream
    cancelled: OrderCancelled = order_cancelled("o1")
    await publish(nc, js, created(1), cancelled, updated(1), created(2))

    first = await received(js, 0, 3)
    second = await received(js, 0, 3)

    for got in (first, second):
        assert [(e.subject, e.data["id"]) for e in got] == [
            ("ticket:created", "t1"),
            ("ticket:updated", "t1"),
            ("ticket:created", "t2"),
        ]
        assert [e.sequence for e in got] == [1, 3, 4], "stream sequences, order:cancelled left out"
    assert (await position(js)).last == 4


async def test_a_watcher_resumes_after_the_sequence_it_gives(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = jetstream
    await publish(nc, js, created(1), created(2), created(3))
    got = await received(js, 2, 1)
    assert [(e.sequence, e.data["id"]) for e in got] == [(3, "t3")]


async def test_without_a_position_a_watcher_gets_only_new_events(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = jetstream
    await publish(nc, js, created(1))
    async with watch(js, WATCHED, None) as events:
        assert await events.next(within=0.3) is None
        await publish(nc, js, created(2))
        event = await events.next(within=5)
    assert event is not None
    assert (event.sequence, event.data["id"]) == (2, "t2")


async def test_a_watcher_knows_when_it_has_read_everything_the_stream_holds(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    """`drained`: how a page catching up from the stream knows where to stop."""
    nc, js = jetstream
    await publish(nc, js, created(1), order_cancelled("o1"))
    async with watch(js, WATCHED, 1) as events:
        assert await events.drained(), "nothing of its subjects after sequence 1"
    await publish(nc, js, created(2), created(3))
    async with watch(js, WATCHED, 0) as events:
        assert not await events.drained()
        read = []
        while not await events.drained():
            event = await events.next(within=5)
            assert event is not None
            read.append(event.sequence)
    assert read == [1, 3, 4]
