"""Every service's database connection is right on a replica set (majority writes on disk,
retryable writes, majority reads from the primary), and it still works on the test server:
the embedded stand-in locally, a single-member replica set of MongoDB 7 on GitHub Actions."""

import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from beanie import Document
from pymongo import AsyncMongoClient, ReadPreference

from common.database import VersionedDocument, connect_database


class Reservation(VersionedDocument):
    holder: str

    class Settings:
        name = "reservations"


class Note(Document):
    text: str

    class Settings:
        name = "notes"


@pytest.fixture
async def db(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = await connect_database(mongo_uri, [Reservation, Note])
    yield client
    await client.close()


async def test_writes_wait_for_a_majority_on_disk_and_reads_see_only_committed_data(
    db: AsyncMongoClient[Any],
) -> None:
    assert db.write_concern.document == {"w": "majority", "j": True}
    assert db.read_concern.document == {"level": "majority"}
    assert db.read_preference == ReadPreference.PRIMARY
    assert db.options.retry_writes is True
    # Beanie's collections inherit them: every model writes and reads this way.
    for model in (Reservation, Note):
        collection = model.get_pymongo_collection()
        assert collection.write_concern.document == {"w": "majority", "j": True}
        assert collection.read_concern.document == {"level": "majority"}


async def test_the_test_server_accepts_them_for_every_kind_of_operation(
    db: AsyncMongoClient[Any],
) -> None:
    reservation = await Reservation(holder="order-1").insert()
    reservation.holder = "order-2"
    await reservation.save_next_version()
    claimed = await Reservation.get_pymongo_collection().find_one_and_update(
        {"_id": reservation.id, "version": 1}, {"$set": {"holder": "order-3"}}
    )
    assert claimed is not None
    await Note(text="kept").insert()
    assert await Note.find({"text": "kept"}).count() == 1
    stored = await Reservation.get(reservation.id)
    assert stored is not None
    assert (stored.holder, stored.version) == ("order-3", 1)


async def test_a_replica_set_in_the_uri_is_a_replica_set(db: AsyncMongoClient[Any]) -> None:
    """GitHub Actions runs these tests against a replica set (`?replicaSet=` in MONGO_URI);
    locally the stand-in is a single server."""
    hello = await db.admin.command("hello")
    in_uri = "replicaSet=" in os.environ.get("MONGO_URI", "")
    assert ("setName" in hello) == in_uri
    assert hello.get("isWritablePrimary") is True
