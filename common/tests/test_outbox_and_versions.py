"""Versioned documents, the per-document outbox and replica version rules, on the test Mongo."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from beanie import Document
from pymongo import AsyncMongoClient

from common.database import (
    VersionConflict,
    VersionedDocument,
    apply_next_version,
    connect_database,
)
from common.events.listener import EventOutOfOrder, Listener, Message
from common.events.schemas import TicketCreated, TicketUpdated
from common.events.subjects import Subjects
from common.outbox import OutboxRelay
from common.testing.doubles import FakeMsg, RecordingPublisher


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


async def stored_outbox(item: Item) -> list[dict[str, Any]]:
    raw = await Item.get_pymongo_collection().find_one({"_id": item.id})
    assert raw is not None
    return list(raw["outbox"])


async def test_a_change_and_its_event_are_stored_together_and_flushed(db: Any) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(publisher, [Item])
    item = await Item(title="a", price=1).insert_with_event(created)
    assert [e["subject"] for e in await stored_outbox(item)] == ["ticket:created"]

    assert await relay.flush(item)
    assert publisher.of("ticket:created") == [
        {"id": str(item.id), "version": 0, "title": "a", "price": 1.0, "userId": "u"}
    ]
    assert await stored_outbox(item) == []
    assert item.outbox == []


async def test_events_wait_in_the_document_while_nats_is_down(db: Any) -> None:
    publisher = RecordingPublisher()
    relay = OutboxRelay(publisher, [Item])
    publisher.fail = True
    item = await Item(title="a", price=1).insert_with_event(created)
    assert not await relay.flush(item)
    item.title = "b"
    await item.save_next_version(updated)
    item.title = "c"
    await item.save_next_version(updated)
    assert len(await stored_outbox(item)) == 3
    assert await relay.drain_once() == 0

    publisher.fail = False
    assert await relay.drain_once() == 3
    assert [(e.subject, e.data["version"]) for e in publisher.published] == [
        ("ticket:created", 0),
        ("ticket:updated", 1),
        ("ticket:updated", 2),
    ]
    assert len({e.msg_id for e in publisher.published}) == 3
    assert await stored_outbox(item) == []
    assert await relay.drain_once() == 0


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
    relay = OutboxRelay(publisher, [Item], interval=30.0)
    await Item(title="a", price=1).insert_with_event(created)
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
