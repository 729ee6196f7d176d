"""The relay's pending query reads the backlog through the marker's index, not the
collection: its cost does not grow with the documents whose events were published."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from common.database import connect_database
from common.outbox import MARKER, Outbox, OutboxDocument, now_ms, pending
from testsupport.doubles import RecordingPublisher
from testsupport.plans import docs_examined, on_stand_in, stand_in_plan, winning_stages

BATCH = 10
PUBLISHED = 500
LEFT_BEHIND = 25


class Record(OutboxDocument):
    n: int

    class Settings:
        name = "records"


@pytest.fixture
async def db(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = await connect_database(mongo_uri, [Record])
    await Outbox(RecordingPublisher(), [Record]).bind()  # indexes the marker
    collection = Record.get_pymongo_collection()
    for start in range(0, PUBLISHED, 100):  # small writes: the test's database has short timeouts
        await collection.insert_many(
            [{"_id": ObjectId(), "n": n, "outbox": []} for n in range(start, start + 100)]
        )
    left_at = now_ms() - 60_000
    await collection.insert_many(
        [
            {
                "_id": ObjectId(),
                "n": PUBLISHED + n,
                "outbox": [{"id": f"e{n}", "subject": "s", "data": {}}],
                MARKER: left_at + n,
            }
            for n in range(LEFT_BEHIND)
        ]
    )
    yield client
    Record._outbox = None
    await client.close()


async def test_the_pending_query_returns_the_oldest_left_behind_documents(db: Any) -> None:
    found = [doc async for doc in pending(Record, now_ms(), BATCH)]
    assert [doc[MARKER] for doc in found] == sorted(doc[MARKER] for doc in found)
    assert len(found) == BATCH
    assert all(doc["outbox"] for doc in found)


async def test_the_pending_query_examines_only_the_backlog(db: Any) -> None:
    plan = await pending(Record, now_ms(), BATCH).explain()
    if await on_stand_in(db):
        # SQLite's plan: a search of the marker's index, not a scan of the collection.
        lines = stand_in_plan(plan)
        assert any("USING INDEX" in line and MARKER in line for line in lines), lines
        assert not any(line.startswith("SCAN") for line in lines), lines
        return
    stages = winning_stages(plan)
    scans = [stage for stage in stages if stage["stage"] == "IXSCAN"]
    assert [scan["indexName"] for scan in scans] == ["outbox_pending"], stages
    assert "COLLSCAN" not in [stage["stage"] for stage in stages]
    assert docs_examined(plan) <= BATCH + 1, plan["executionStats"]
