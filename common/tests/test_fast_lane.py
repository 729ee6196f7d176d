"""The fast lane (common.events.fast_lane): an event JetStream cannot store yet still reaches
one listener of each group at once; JetStream delivers it again once stored (a duplicate the
listener ignores). Against real nats-servers: one alone, and a cluster losing the stream's
leader."""

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

import common.events.publisher as publisher_module
from common.events.listener import EventOutOfOrder, Listener, Message
from common.events.publisher import JetStreamPublisher, PublishFailed
from common.events.schemas import TicketCreated
from common.events.stream import STREAM_NAME, StreamSettings, connect_nats, ensure_stream
from testsupport.servers import NatsCluster, NatsServer, wait_until


class Recorder(Listener[TicketCreated]):
    subject = TicketCreated.subject
    queue_group = "fast-lane-recorders"
    event_model = TicketCreated
    retry_delays: ClassVar[tuple[float, ...]] = (0.1,)

    def __init__(self, name: str, seen: list[tuple[str, str, float]], fail: bool = False) -> None:
        super().__init__()
        self.name = name
        self.seen = seen
        self.fail = fail

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        self.seen.append((self.name, data.id, time.monotonic()))
        if self.fail:
            raise EventOutOfOrder("not yet")


def ticket(n: int) -> TicketCreated:
    return TicketCreated(id=f"t{n}", version=0, title="concert", price=10, user_id="u1")


async def publish(publisher: JetStreamPublisher, event: TicketCreated) -> None:
    await publisher.publish(event.subject, event.to_wire(), msg_id=f"{event.id}-0")


@pytest.fixture
async def streamless(nats_server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    """A server without the stream: every JetStream publish fails, as during an election."""
    nc = await connect_nats(nats_server.url, "fast-lane-tests")
    yield nc, nc.jetstream()
    await nc.close()


async def test_an_event_jetstream_cannot_store_reaches_one_listener_of_the_group(
    streamless: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = streamless
    seen: list[tuple[str, str, float]] = []
    subscriptions = [await Recorder(name, seen).listen_on_fast_lane(nc) for name in "ab"]
    publisher = JetStreamPublisher(nc, js)

    for n in range(6):
        with pytest.raises(PublishFailed):
            await publish(publisher, ticket(n))
    await wait_until(lambda: len(seen) == 6)
    await asyncio.sleep(0.3)  # a second copy would show up here

    assert sorted(event_id for _, event_id, _ in seen) == [f"t{n}" for n in range(6)]
    with pytest.raises(PublishFailed):  # a retry of one event is not sent again
        await publish(publisher, ticket(0))
    await asyncio.sleep(0.3)
    assert len(seen) == 6
    for subscription in subscriptions:
        await subscription.unsubscribe()


async def test_after_a_failure_stored_events_take_the_fast_lane_too_for_a_while(
    streamless: tuple[NatsClient, JetStreamContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consumers whose leader was lost elect theirs on their own clock, after the stream's."""
    monkeypatch.setattr(publisher_module, "DEGRADED_SECONDS", 1.5)
    nc, js = streamless
    seen: list[tuple[str, str, float]] = []
    subscription = await Recorder("a", seen).listen_on_fast_lane(nc)
    publisher = JetStreamPublisher(nc, js)
    with pytest.raises(PublishFailed):
        await publish(publisher, ticket(1))
    await ensure_stream(js, StreamSettings())

    await publish(publisher, ticket(2))  # stored, and on the fast lane as well
    await wait_until(lambda: len(seen) == 2)
    await asyncio.sleep(1.5)
    await publish(publisher, ticket(3))  # the degraded window is over
    await asyncio.sleep(0.3)

    assert [event_id for _, event_id, _ in seen] == ["t1", "t2"]
    assert (await js.stream_info(STREAM_NAME)).state.messages == 2
    await subscription.unsubscribe()


async def test_a_fast_lane_delivery_that_does_not_apply_is_left_to_jetstream(
    streamless: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, js = streamless
    seen: list[tuple[str, str, float]] = []
    listener = Recorder("a", seen, fail=True)
    subscription = await listener.listen_on_fast_lane(nc)
    publisher = JetStreamPublisher(nc, js)
    with pytest.raises(PublishFailed):
        await publish(publisher, ticket(1))
    await wait_until(lambda: len(seen) == 1)

    # Stored later (as the outbox does): JetStream delivers it, and it is retried there.
    await ensure_stream(js, StreamSettings())
    listener.fail = False
    stop = asyncio.Event()
    run = asyncio.create_task(listener.run(js, stop))
    await js.publish(
        TicketCreated.subject.value,
        ticket(1).model_dump_json(by_alias=True).encode(),
        headers={"Nats-Msg-Id": "t1-0"},
    )
    await wait_until(lambda: len(seen) == 2)
    stop.set()
    await asyncio.wait_for(run, 5)
    info = await js.consumer_info(STREAM_NAME, Recorder.durable_name())
    assert info.num_ack_pending == 0
    await subscription.unsubscribe()


async def test_events_flow_at_once_while_the_stream_elects_a_new_leader(tmp_path: Path) -> None:
    """Kill -9 the stream's leader: JetStream stores nothing until a new leader is elected
    (seconds), yet an event published meanwhile reaches the listener straight away, and again
    from JetStream once stored."""
    cluster = NatsCluster(tmp_path, 3)
    cluster.start()
    nc: NatsClient | None = None
    stop = asyncio.Event()
    run: asyncio.Task[None] | None = None
    try:
        nc = await connect_nats(cluster.url, "election-test")
        js = nc.jetstream()
        await ensure_stream(js, StreamSettings(NATS_STREAM_REPLICAS=3))
        seen: list[tuple[str, str, float]] = []
        run = asyncio.create_task(Recorder("a", seen).run(js, stop, nc))
        publisher = JetStreamPublisher(nc, js)
        await publish(publisher, ticket(0))
        await wait_until(lambda: len(seen) == 1)

        leader = cluster.stream_leader(STREAM_NAME)
        assert leader is not None
        cluster.node(leader).kill()
        await wait_until(lambda: nc is not None and nc.is_connected, within=10)
        killed_at = time.monotonic()
        attempts = 0
        while True:  # as the outbox relay does: until the stream stores it
            attempts += 1
            try:
                await publish(publisher, ticket(1))
                break
            except PublishFailed:
                await asyncio.sleep(0.2)
            assert time.monotonic() - killed_at < 30, "no new leader"
        stored_at = time.monotonic()
        await wait_until(lambda: [e for _, e, _ in seen].count("t1") == 2, within=15)

        first_arrival = next(at for _, event_id, at in seen if event_id == "t1")
        assert attempts > 1, "the stream stored it at once: no election to wait for"
        assert first_arrival < stored_at, "it arrived before the stream could store it"
        assert first_arrival - killed_at < 3.0  # an election takes 4 to 9 s
        stop.set()
        await asyncio.wait_for(run, 10)
    finally:
        stop.set()
        if run is not None and not run.done():
            run.cancel()
        if nc is not None:
            await nc.close()
        cluster.stop()
