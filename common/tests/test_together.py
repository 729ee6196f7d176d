"""Group commit (`common.together`): inserts and reads by id made at the same moment share
one command, and each caller still gets its own outcome."""

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from beanie import Document, PydanticObjectId, init_beanie
from bson import ObjectId
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pymongo import ASCENDING, AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, InvalidOperation

from common.database import client_options
from common.errors import database_unavailable
from common.events.publisher import JetStreamPublisher
from common.events.replica import ReplicaInsertListener
from common.events.schemas import TicketCreated
from common.events.subjects import Subjects
from common.together import MAX_GROUP, find_by_id_together, insert_together
from testsupport.servers import MongoStandIn, mongo_stand_in_of_its_own, wait_until


class InsertCommands(monitoring.CommandListener):
    """How many documents each insert command sent to the server carried, and the filters of
    the reads."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.finds: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            self.sizes.append(len(event.command["documents"]))
        if event.command_name == "find":
            self.finds.append(event.command["filter"])

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def commands() -> InsertCommands:
    return InsertCommands()


@pytest.fixture
async def collection(
    mongo_uri: str, commands: InsertCommands
) -> AsyncIterator[AsyncCollection[dict[str, Any]]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, event_listeners=[commands], **client_options(mongo_uri)
    )
    things = client.get_default_database()["things"]
    await things.create_index([("code", ASCENDING)], name="code", unique=True)
    yield things
    await client.close()


async def test_a_lone_insert_goes_at_once_alone(
    collection: AsyncCollection[dict[str, Any]], commands: InsertCommands
) -> None:
    document = {"code": "a"}
    await insert_together(collection, document)

    assert commands.sizes == [1]
    stored = await collection.find_one({"_id": document["_id"]})
    assert stored == {"_id": document["_id"], "code": "a"}


async def test_inserts_made_at_the_same_moment_share_commands_and_are_all_stored(
    collection: AsyncCollection[dict[str, Any]], commands: InsertCommands
) -> None:
    count = MAX_GROUP + 50
    await asyncio.gather(*(insert_together(collection, {"code": n}) for n in range(count)))

    assert commands.sizes == [MAX_GROUP, 50]
    stored = sorted([d["code"] async for d in collection.find({}, {"code": 1})])
    assert stored == list(range(count))


async def test_inserts_arriving_while_one_is_in_flight_go_together_in_the_next_command(
    collection: AsyncCollection[dict[str, Any]], commands: InsertCommands
) -> None:
    first = asyncio.create_task(insert_together(collection, {"code": "first"}))
    await asyncio.sleep(0)  # the first command is on its way
    later = [asyncio.create_task(insert_together(collection, {"code": n})) for n in range(10)]
    await asyncio.gather(first, *later)

    assert commands.sizes == [1, 10]
    assert await collection.count_documents({}) == 11


async def test_a_duplicate_fails_only_for_its_caller(
    collection: AsyncCollection[dict[str, Any]], commands: InsertCommands
) -> None:
    taken = ObjectId()
    await collection.insert_one({"_id": taken, "code": "taken"})
    documents: list[dict[str, Any]] = [
        {"code": "b"},
        {"_id": taken, "code": "same id"},
        {"code": "c"},
        {"code": "taken"},
        {"code": "d"},
    ]

    outcomes = await asyncio.gather(
        *(insert_together(collection, document) for document in documents),
        return_exceptions=True,
    )

    assert [type(outcome) for outcome in outcomes] == [
        type(None),
        DuplicateKeyError,
        type(None),
        DuplicateKeyError,
        type(None),
    ]
    assert all(o.code == 11000 for o in outcomes if isinstance(o, DuplicateKeyError))
    assert commands.sizes == [1, 5]
    stored = sorted([d["code"] async for d in collection.find({}, {"code": 1})])
    assert stored == ["b", "c", "d", "taken"]
    assert (await collection.find_one({"_id": taken}) or {})["code"] == "taken"


@pytest.mark.parametrize("kind", ["insert", "find"])
async def test_a_failed_command_fails_every_caller(
    collection: AsyncCollection[dict[str, Any]], kind: str
) -> None:
    await collection.database.client.close()

    calls = [
        insert_together(collection, {"code": n})
        if kind == "insert"
        else find_by_id_together(collection, ObjectId())
        for n in range(3)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    assert [type(outcome) for outcome in outcomes] == [InvalidOperation] * 3


async def test_a_caller_giving_up_before_its_command_is_sent_is_never_sent(
    collection: AsyncCollection[dict[str, Any]], commands: InsertCommands
) -> None:
    first = asyncio.create_task(insert_together(collection, {"code": "first"}))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the first command is in flight
    waiting = [asyncio.create_task(insert_together(collection, {"code": n})) for n in range(5)]
    await asyncio.sleep(0)  # the five wait for the next command
    waiting[2].cancel()
    outcomes = await asyncio.gather(first, *waiting, return_exceptions=True)

    assert isinstance(outcomes[3], asyncio.CancelledError)
    assert [outcome for n, outcome in enumerate(outcomes) if n != 3] == [None] * 5
    assert commands.sizes == [1, 4]
    stored = sorted([d["code"] async for d in collection.find({}, {"code": 1})], key=str)
    assert stored == [0, 1, 3, 4, "first"]


@pytest.fixture
def paused_database(tmp_path: Path) -> Iterator[MongoStandIn]:
    """A Mongo stand-in of this test's own, to pause."""
    with mongo_stand_in_of_its_own(tmp_path / "database") as server:
        yield server


async def test_the_time_limit_bounds_a_call_from_end_to_end_while_the_database_sleeps(
    paused_database: MongoStandIn,
) -> None:
    limit = 1.0
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"{paused_database.url}/sleepy", timeoutMS=int(limit * 1000)
    )
    things = client["sleepy"]["things"]
    await insert_together(things, {"code": "before"})
    assert paused_database.process is not None
    os.kill(paused_database.process.pid, signal.SIGSTOP)  # accepts, never answers
    try:

        async def timed(code: int) -> tuple[BaseException | None, float]:
            started = time.monotonic()
            try:
                await insert_together(things, {"code": code})
            except Exception as error:
                return error, time.monotonic() - started
            return None, time.monotonic() - started

        first = asyncio.create_task(timed(1))
        await asyncio.sleep(0.05)  # its command is in flight: the next one waits for it
        (error, elapsed), (first_error, _) = await asyncio.gather(timed(2), first)
    finally:
        os.kill(paused_database.process.pid, signal.SIGCONT)
        await client.close()

    # Alone it would have waited for the first command (about 1 s) and then its own.
    assert elapsed < limit + 0.4, elapsed
    assert error is not None
    assert database_unavailable(error)
    assert first_error is not None
    assert database_unavailable(first_error)


async def test_reads_by_id_made_at_the_same_moment_share_a_find_and_each_gets_its_own(
    collection: AsyncCollection[dict[str, Any]], commands: InsertCommands
) -> None:
    ids = [ObjectId() for _ in range(6)]
    await collection.insert_many([{"_id": i, "code": n} for n, i in enumerate(ids)])
    missing = ObjectId()
    asked = [ids[0], ids[3], missing, ids[3], ids[5]]

    alone = await find_by_id_together(collection, ids[1])
    found = await asyncio.gather(*(find_by_id_together(collection, i) for i in asked))

    assert alone == {"_id": ids[1], "code": 1}
    assert found == [
        {"_id": ids[0], "code": 0},
        {"_id": ids[3], "code": 3},
        None,
        {"_id": ids[3], "code": 3},
        {"_id": ids[5], "code": 5},
    ]
    assert commands.finds[0] == {"_id": ids[1]}
    assert len(commands.finds) == 2
    assert sorted(commands.finds[1]["_id"]["$in"]) == sorted({*asked})


class Thing(Document):
    """A replica of an entity another service owns."""

    title: str
    version: int

    class Settings:
        name = "things_replica"


class ThingCreatedListener(ReplicaInsertListener[TicketCreated]):
    subject = Subjects.TICKET_CREATED
    queue_group = "thing-replicas"
    event_model = TicketCreated

    def replica_of(self, entity_id: PydanticObjectId, data: TicketCreated) -> Thing:
        return Thing(id=entity_id, title=data.title, version=data.version)


async def test_a_replica_listener_adds_a_fetched_batch_in_shared_commands(
    mongo_uri: str,
    commands: InsertCommands,
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        mongo_uri, tz_aware=True, event_listeners=[commands], **client_options(mongo_uri)
    )
    await init_beanie(database=client.get_default_database(), document_models=[Thing])
    nc, js = jetstream
    publisher = JetStreamPublisher(nc, js)
    ids = [ObjectId() for _ in range(30)]
    for n, thing_id in enumerate(ids):
        event = TicketCreated(id=str(thing_id), version=0, title=f"t{n}", price=1, user_id="u")
        await publisher.publish(event.subject, event.to_wire(), msg_id=f"{thing_id}-0")
    await publisher.publish(  # a repeat of the first, which changes nothing
        Subjects.TICKET_CREATED,
        TicketCreated(id=str(ids[0]), version=0, title="t0", price=1, user_id="u").to_wire(),
        msg_id="again",
    )
    stop = asyncio.Event()
    listening = asyncio.create_task(ThingCreatedListener().run(js, stop))
    try:
        await wait_until(lambda: sum(commands.sizes) >= 31)
        stored = {thing.id: thing async for thing in Thing.find_all()}
        assert sorted(stored) == sorted(ids)
        assert [stored[thing_id].title for thing_id in ids] == [f"t{n}" for n in range(30)]
        assert len(commands.sizes) < 31  # the events of a fetched batch shared commands
        assert max(commands.sizes) > 1
    finally:
        stop.set()
        await asyncio.wait_for(listening, 5)
        await client.close()
