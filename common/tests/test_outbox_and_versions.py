"""Versioned documents, the per-document outbox and replica version rules, on the test Mongo."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from beanie import Document, init_beanie
from pymongo import AsyncMongoClient
from pymongo.monitoring import (
    CommandFailedEvent,
    CommandListener,
    CommandStartedEvent,
    CommandSucceededEvent,
)

from common.database import (
    VersionConflict,
    VersionedDocument,
    apply_next_version,
    connect_database,
)
from common.events.listener import EventOutOfOrder, Listener, Message
from common.events.schemas import TicketCreated, TicketUpdated
from common.events.subjects import Subjects
from common.observability.tracing import continuing, trace_headers
from common.outbox import MARKER, Outbox
from testsupport.doubles import FakeMsg, RecordingPublisher


class Item(VersionedDocument):
    title: str
    price: float

    class Settings:
        name = "items"


class Replica(Document):
    title: str
    version: int

    class Settings:
        name = "replicas"


def created(item: Item) -> TicketCreated:
    return TicketCreated(
        id=str(item.id), version=item.version, title=item.title, price=item.price, user_id="u"
    )


def updated(item: Item) -> TicketUpdated:
    return TicketUpdated(
        id=str(item.id), version=item.version, title=item.title, price=item.price, user_id="u"
    )


@pytest.fixture
async def db(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = await connect_database(mongo_uri, [Item, Replica])
    yield client
    await client.close()


async def stored(item: Item) -> dict[str, Any]:
    raw = await Item.get_pymongo_collection().find_one({"_id": item.id})
    assert raw is not None
    return raw


async def stored_outbox(item: Item) -> list[dict[str, Any]]:
    return list((await stored(item))["outbox"])


@pytest.fixture
async def outbox(db: Any) -> AsyncIterator[tuple[Outbox, RecordingPublisher]]:
    """Item's writes publish through an outbox to a recording publisher."""
    publisher = RecordingPublisher()
    bound = Outbox(publisher, [Item])
    await bound.bind()
    yield bound, publisher
    bound.unbind()


class Writes(CommandListener):
    """Counts the write commands sent to the database (each insert / update / delete command,
    however many documents it carries)."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def started(self, event: CommandStartedEvent) -> None:
        if event.command_name in ("insert", "update", "delete", "findAndModify"):
            self.commands.append(event.command_name)

    def succeeded(self, event: CommandSucceededEvent) -> None:
        pass

    def failed(self, event: CommandFailedEvent) -> None:
        pass


async def test_a_write_publishes_its_event_itself(outbox: Any) -> None:
    bound, publisher = outbox
    item = await Item(title="a", price=1).insert_with_event(created)

    assert publisher.of("ticket:created") == [
        {"id": str(item.id), "version": 0, "title": "a", "price": 1, "userId": "u"}
    ]
    item.title = "b"
    await item.save_next_version(updated)
    assert [e["version"] for e in publisher.of("ticket:updated")] == [1]
    # Published events are cleared in batches; until then they are in the document.
    assert MARKER in await stored(item)
    assert await bound.clear_published() == 1  # the second write superseded the first's
    assert await stored_outbox(item) == []
    assert MARKER not in await stored(item), "the marker exists only while events are pending"
    assert await bound.drain_once(grace=0) == 0


async def test_one_database_write_per_change_and_one_to_clear_them_all(
    mongo_uri: str,
) -> None:
    writes = Writes()
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, event_listeners=[writes])
    await init_beanie(database=client.get_default_database(), document_models=[Item])
    publisher = RecordingPublisher()
    bound = Outbox(publisher, [Item])
    await bound.bind()
    try:
        writes.commands.clear()
        items = [await Item(title=f"t{n}", price=1).insert_with_event(created) for n in range(20)]
        assert writes.commands == ["insert"] * 20
        assert len(publisher.of("ticket:created")) == 20

        writes.commands.clear()
        assert await bound.clear_published() == 20
        assert writes.commands == ["update"]
        assert all([await stored_outbox(item) == [] for item in items])
    finally:
        bound.unbind()
        await client.close()


async def test_events_wait_in_the_document_while_nats_is_down(outbox: Any) -> None:
    bound, publisher = outbox
    publisher.fail = True
    item = await Item(title="a", price=1).insert_with_event(created)
    item.title = "b"
    await item.save_next_version(updated)
    item.title = "c"
    await item.save_next_version(updated)
    assert len(await stored_outbox(item)) == 3
    assert await bound.drain_once(grace=0) == 0
    assert await bound.drain_once() == 0, "within the grace period the writer is publishing"

    publisher.fail = False
    assert await bound.drain_once() == 0, "still within the grace period"
    assert await bound.drain_once(grace=0) == 3
    assert [(e.subject, e.data["version"]) for e in publisher.published] == [
        ("ticket:created", 0),
        ("ticket:updated", 1),
        ("ticket:updated", 2),
    ]
    assert len({e.msg_id for e in publisher.published}) == 3
    assert await stored_outbox(item) == []
    assert MARKER not in await stored(item)
    assert await bound.drain_once(grace=0) == 0


async def test_relays_in_several_replicas_publish_each_document_once(outbox: Any) -> None:
    _, publisher = outbox
    publisher.fail = True
    for n in range(30):
        await Item(title=f"t{n}", price=1).insert_with_event(created)
    publisher.fail = False
    replicas = [Outbox(publisher, [Item]) for _ in range(3)]

    sent = await asyncio.gather(*(relay.drain_once(grace=0) for relay in replicas))

    assert sum(sent) == 30
    assert len(publisher.published) == 30
    assert publisher.repeats == 0, "no document was published by two relays"


async def test_the_relay_finds_pending_documents_through_an_index(outbox: Any) -> None:
    """Its query names only the marker, which the outbox indexes: its cost follows the
    backlog, not the collection."""
    names = [index["key"] async for index in await Item.get_pymongo_collection().list_indexes()]
    assert {MARKER: 1} in [dict(key) for key in names]
    plan = await Item.get_pymongo_collection().find({MARKER: {"$lt": 0}}).explain()
    assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"]), plan


async def test_a_stale_write_is_refused_and_leaves_the_document_alone(db: Any) -> None:
    item = await Item(title="a", price=1).insert_with_event(created)
    first = await Item.get(item.id)
    second = await Item.get(item.id)
    assert first is not None
    assert second is not None
    first.title = "first"
    await first.save_next_version(updated)
    second.title = "second"
    with pytest.raises(VersionConflict):
        await second.save_next_version(updated)
    assert second.version == 0
    assert len(second.outbox) == 1  # only the creation event it read

    stored = await Item.get(item.id)
    assert stored is not None
    assert (stored.title, stored.version) == ("first", 1)


async def test_concurrent_writers_never_lose_an_update(db: Any) -> None:
    item = await Item(title="a", price=0).insert_with_event(created)

    async def add_one() -> None:
        while True:
            current = await Item.get(item.id)
            assert current is not None
            current.price += 1
            try:
                await current.save_next_version(updated)
                return
            except VersionConflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(add_one() for _ in range(15)))
    stored = await Item.get(item.id)
    assert stored is not None
    assert (stored.price, stored.version) == (15, 15)
    assert sorted(e.data["version"] for e in stored.outbox) == list(range(16))


async def test_a_replica_applies_only_the_next_version(db: Any) -> None:
    replica = await Replica(title="v0", version=0).insert()
    replica_id = str(replica.id)
    assert await apply_next_version(Replica, replica_id, 1, {"title": "v1"})
    assert not await apply_next_version(Replica, replica_id, 1, {"title": "dup"})
    assert not await apply_next_version(Replica, replica_id, 0, {"title": "old"})
    with pytest.raises(EventOutOfOrder):
        await apply_next_version(Replica, replica_id, 3, {"title": "future"})
    with pytest.raises(EventOutOfOrder):
        await apply_next_version(Replica, "6b026a601c3f1bd9600fc384", 1, {"title": "unknown"})
    stored = await Replica.get(replica.id)
    assert stored is not None
    assert (stored.title, stored.version) == ("v1", 1)


class ApplyingListener(Listener[TicketUpdated]):
    subject = Subjects.TICKET_UPDATED
    queue_group = "test-service"
    event_model = TicketUpdated
    max_deliver: ClassVar[int] = 4

    async def on_message(self, data: TicketUpdated, msg: Message) -> None:
        await apply_next_version(Replica, data.id, data.version, {"title": data.title})


async def test_listener_settles_messages_by_outcome(db: Any) -> None:
    replica = await Replica(title="v0", version=0).insert()
    listener = ApplyingListener()

    def event(version: int) -> TicketUpdated:
        return TicketUpdated(
            id=str(replica.id), version=version, title=f"v{version}", price=1, user_id="u"
        )

    future = FakeMsg.of(event(2))
    await listener.handle(future)
    assert (future.acked, future.naked, future.termed) == (False, True, False)

    nxt = FakeMsg.of(event(1))
    await listener.handle(nxt)
    assert nxt.acked

    duplicate = FakeMsg.of(event(1))
    await listener.handle(duplicate)
    assert duplicate.acked

    invalid = FakeMsg.of(b'{"id": "x"}')
    await listener.handle(invalid)
    assert (invalid.acked, invalid.naked, invalid.termed) == (False, False, True)

    last_try = FakeMsg.of(event(5), delivered=ApplyingListener.max_deliver)
    await listener.handle(last_try)
    assert (last_try.acked, last_try.naked, last_try.termed) == (False, False, True)

    stored = await Replica.get(replica.id)
    assert stored is not None
    assert stored.version == 1
    assert json.loads(nxt.data)["title"] == stored.title


async def test_the_relay_tries_again_soon_while_publishing_fails(db: Any) -> None:
    """A stream electing a new leader refuses events for seconds: the relay's next pass comes
    a fraction of its interval after a failure, so events go out as soon as they can."""
    publisher = RecordingPublisher()
    publisher.fail = True
    relay = Outbox(publisher, [Item], relay_interval=30.0)
    await relay.bind()
    await Item(title="a", price=1).insert_with_event(created)  # its own publish fails
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(0.5)  # a couple of failed passes
        publisher.fail = False
        recovered = asyncio.get_running_loop().time()
        while not publisher.published:
            assert asyncio.get_running_loop().time() - recovered < 2.0, "waited for the interval"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        relay.unbind()


async def test_the_relay_publishes_an_event_in_the_trace_it_was_recorded_in(db: Any) -> None:
    """A request's trace goes on with its events even when the relay publishes them later."""
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen: list[dict[str, str]] = []

    class TracingPublisher(RecordingPublisher):
        async def publish(self, subject: str, data: dict[str, Any], msg_id: str) -> None:
            seen.append(trace_headers())  # what the publisher would put in the headers
            await super().publish(subject, data, msg_id)

    publisher = TracingPublisher()
    bound = Outbox(publisher, [Item])
    await bound.bind()
    try:
        publisher.fail = True
        with continuing({"traceparent": traceparent}):
            await Item(title="a", price=1).insert_with_event(created)
        publisher.fail = False
        assert trace_headers() == {}, "the relay runs outside any trace"
        assert await bound.drain_once(grace=0) == 1
    finally:
        bound.unbind()
    assert seen[-1]["traceparent"] == traceparent
