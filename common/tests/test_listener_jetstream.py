"""The base publisher and listener against a real nats-server with JetStream."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pymongo.errors import ServerSelectionTimeoutError

from common.events.listener import Listener, Message
from common.events.publisher import JetStreamPublisher, PublishFailed
from common.events.schemas import TicketCreated
from common.events.stream import STREAM_NAME, connect_nats
from common.events.subjects import Subjects
from testsupport.servers import NatsServer, wait_until


class RecordingListener(Listener[TicketCreated]):
    subject = Subjects.TICKET_CREATED
    queue_group = "recorders"
    event_model = TicketCreated
    retry_delays: ClassVar[tuple[float, ...]] = (0.1,)
    max_deliver: ClassVar[int] = 3

    def __init__(self, name: str, seen: list[tuple[str, str]], fail_times: int = 0) -> None:
        super().__init__()
        self.name = name
        self.seen = seen
        self.fail_times = fail_times

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        self.seen.append((self.name, data.id))
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("handler failed on purpose")


def ticket(n: int) -> TicketCreated:
    return TicketCreated(id=f"t{n}", version=0, title=f"concert {n}", price=10 + n, user_id="u1")


@pytest.fixture
async def running() -> AsyncIterator[Callable[[Listener[Any], JetStreamContext], asyncio.Event]]:
    tasks: list[tuple[asyncio.Task[None], asyncio.Event]] = []

    def start(listener: Listener[Any], js: JetStreamContext) -> asyncio.Event:
        stop = asyncio.Event()
        tasks.append((asyncio.create_task(listener.run(js, stop)), stop))
        return stop

    yield start
    for task, stop in tasks:
        stop.set()
        await asyncio.wait_for(task, 5)


async def publish_all(nc: NatsClient, js: JetStreamContext, events: list[TicketCreated]) -> None:
    publisher = JetStreamPublisher(nc, js)
    for event in events:
        await publisher.publish(
            event.subject, event.to_wire(), msg_id=f"{event.id}-{event.version}"
        )


async def test_two_replicas_of_one_group_handle_each_event_exactly_once(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any
) -> None:
    nc, js = jetstream
    seen: list[tuple[str, str]] = []
    running(RecordingListener("a", seen), js)
    running(RecordingListener("b", seen), js)
    await publish_all(nc, js, [ticket(n) for n in range(40)])

    await wait_until(lambda: len(seen) >= 40)
    await asyncio.sleep(0.5)  # a duplicate delivery would show up here
    ids = [event_id for _, event_id in seen]
    assert sorted(ids) == sorted(f"t{n}" for n in range(40))
    info = await js.consumer_info(STREAM_NAME, RecordingListener.durable_name())
    assert info.num_ack_pending == 0
    assert info.num_pending == 0


async def test_a_handler_that_raises_gets_the_event_again(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any
) -> None:
    nc, js = jetstream
    seen: list[tuple[str, str]] = []
    running(RecordingListener("a", seen, fail_times=1), js)
    await publish_all(nc, js, [ticket(1)])

    await wait_until(lambda: len(seen) == 2)
    assert seen == [("a", "t1"), ("a", "t1")]
    await asyncio.sleep(0.3)
    info = await js.consumer_info(STREAM_NAME, RecordingListener.durable_name())
    assert info.num_ack_pending == 0


async def test_an_event_failing_every_time_is_set_aside_after_max_deliver(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any
) -> None:
    nc, js = jetstream
    seen: list[tuple[str, str]] = []
    running(RecordingListener("a", seen, fail_times=100), js)
    await publish_all(nc, js, [ticket(1), ticket(2)])

    await wait_until(lambda: seen.count(("a", "t2")) == RecordingListener.max_deliver)
    await asyncio.sleep(0.6)
    assert seen.count(("a", "t1")) == RecordingListener.max_deliver
    info = await js.consumer_info(STREAM_NAME, RecordingListener.durable_name())
    assert info.num_ack_pending == 0  # terminated, not waiting for redelivery


async def test_a_restarted_listener_gets_what_was_published_while_it_was_away(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any
) -> None:
    nc, js = jetstream
    seen: list[tuple[str, str]] = []
    stop = running(RecordingListener("first", seen), js)
    await publish_all(nc, js, [ticket(1)])
    await wait_until(lambda: len(seen) == 1)
    stop.set()
    await asyncio.sleep(1.2)  # let the first listener's fetch loop end

    await publish_all(nc, js, [ticket(2), ticket(3)])
    running(RecordingListener("second", seen), js)
    await wait_until(lambda: len(seen) == 3)
    assert seen == [("first", "t1"), ("second", "t2"), ("second", "t3")]


async def test_a_listener_resumes_after_the_server_restarts(
    nats_server: NatsServer, running: Any
) -> None:
    nc = await connect_nats(nats_server.url, "restart-test")
    js = nc.jetstream()
    from common.events.stream import ensure_stream

    await ensure_stream(js)
    seen: list[tuple[str, str]] = []
    running(RecordingListener("a", seen), js)
    await publish_all(nc, js, [ticket(1)])
    await wait_until(lambda: len(seen) == 1)

    nats_server.stop()
    nats_server.start()  # same port, same store
    await wait_until(lambda: nc.is_connected, within=15)
    for _ in range(50):  # JetStream needs a moment after the restart (the relay retries too)
        try:
            await publish_all(nc, js, [ticket(2)])
            break
        except PublishFailed:
            await asyncio.sleep(0.2)
    await wait_until(lambda: len(seen) == 2, within=15)
    assert seen[-1] == ("a", "t2")
    await nc.close()


async def test_the_same_message_id_published_twice_is_stored_once(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = jetstream
    publisher = JetStreamPublisher(nc, js)
    event = ticket(1)
    await publisher.publish(event.subject, event.to_wire(), msg_id="same-id")
    await publisher.publish(event.subject, event.to_wire(), msg_id="same-id")
    await publisher.publish(event.subject, event.to_wire(), msg_id="other-id")

    info = await js.stream_info(STREAM_NAME)
    assert info.state.messages == 2


async def test_an_invalid_payload_is_terminated_not_redelivered(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any
) -> None:
    nc, js = jetstream
    seen: list[tuple[str, str]] = []
    await js.publish(Subjects.TICKET_CREATED.value, b'{"id": "t1"}')  # missing fields
    await js.publish(Subjects.TICKET_CREATED.value, b"not json")
    await publish_all(nc, js, [ticket(2)])
    running(RecordingListener("a", seen), js)

    await wait_until(lambda: len(seen) == 1)
    await asyncio.sleep(0.5)
    assert seen == [("a", "t2")]
    info = await js.consumer_info(STREAM_NAME, RecordingListener.durable_name())
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0


class DatabaseAwayListener(RecordingListener):
    """Its database does not answer for the first `outage_attempts` attempts."""

    outage_retry_delays: ClassVar[tuple[float, ...]] = (0.05,)

    def __init__(self, seen: list[tuple[str, str]], outage_attempts: int) -> None:
        super().__init__("a", seen)
        self.outage_attempts = outage_attempts
        self.delivery_counts: list[int] = []

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        self.delivery_counts.append(int(msg.metadata.num_delivered))
        if self.outage_attempts > 0:
            self.outage_attempts -= 1
            raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")
        self.seen.append((self.name, data.id))


async def test_a_database_outage_does_not_use_up_deliveries(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any
) -> None:
    """Far more failed attempts than `max_deliver` while the database is away: the event is
    kept in hand and applied once the database answers, never set aside."""
    nc, js = jetstream
    seen: list[tuple[str, str]] = []
    outage_attempts = RecordingListener.max_deliver * 4
    listener = DatabaseAwayListener(seen, outage_attempts)
    running(listener, js)
    await publish_all(nc, js, [ticket(1), ticket(2)])

    await wait_until(lambda: len(seen) == 2)
    assert seen == [("a", "t1"), ("a", "t2")]
    assert len(listener.delivery_counts) == outage_attempts + 2
    assert set(listener.delivery_counts) == {1}  # retried in hand, never redelivered
    info = await js.consumer_info(STREAM_NAME, RecordingListener.durable_name())
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0


async def test_stopping_ends_the_wait_for_the_database(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = jetstream
    listener = DatabaseAwayListener([], outage_attempts=1_000_000)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(js, stop))
    await publish_all(nc, js, [ticket(1)])
    await wait_until(lambda: len(listener.delivery_counts) >= 3)

    stop.set()
    await asyncio.wait_for(task, 5)  # the event in hand goes back, unacked, for later


class OverlapListener(Listener[TicketCreated]):
    """Notes how many of its events were being handled at the same time."""

    subject = Subjects.TICKET_CREATED
    queue_group = "overlappers"
    event_model = TicketCreated

    def __init__(self) -> None:
        super().__init__()
        self.in_hand = 0
        self.most_in_hand = 0
        self.seen: list[str] = []

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        self.in_hand += 1
        self.most_in_hand = max(self.most_in_hand, self.in_hand)
        await asyncio.sleep(0.01)
        self.seen.append(data.id)
        self.in_hand -= 1


class TogetherListener(OverlapListener):
    queue_group = "together"
    handles_batch_together = True


@pytest.mark.parametrize("together", [True, False])
async def test_a_fetched_batch_is_handled_at_once_only_by_listeners_that_ask_for_it(
    jetstream: tuple[NatsClient, JetStreamContext], running: Any, together: bool
) -> None:
    nc, js = jetstream
    listener = TogetherListener() if together else OverlapListener()
    await publish_all(nc, js, [ticket(n) for n in range(30)])
    running(listener, js)

    await wait_until(lambda: len(listener.seen) >= 30)
    assert sorted(listener.seen) == sorted(f"t{n}" for n in range(30))
    if together:
        assert listener.most_in_hand > 1
    else:
        assert listener.most_in_hand == 1
        assert listener.seen == [f"t{n}" for n in range(30)]  # one after the other, in order
    for _ in range(50):  # the last acks follow the handling
        info = await js.consumer_info(STREAM_NAME, type(listener).durable_name())
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    assert info.num_ack_pending == 0
    assert info.num_pending == 0
