"""`OutboxDocument.stored()`: the document a write sends is exactly the one Beanie would write
(`get_dict(to_db=True)`), whatever the model's fields hold, and it reads back as it was."""

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

import pytest
from beanie import PydanticObjectId
from beanie.odm.utils.dump import get_dict
from bson import Decimal128
from pydantic import BaseModel, Field
from pymongo import AsyncMongoClient

from common.database import VersionedDocument, connect_database
from common.events.schemas import TicketCreated
from common.outbox import MARKER


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Size(Enum):
    SMALL = 1
    LARGE = 2


class Part(BaseModel):
    name: str
    colour: Colour
    at: datetime | None = None


class Assortment(VersionedDocument):
    """Every kind of value the services' documents hold, and a few they might."""

    title: str
    colour: Colour
    size: Size
    amount: Decimal
    on: date
    parts: list[Part] = Field(default_factory=list)
    pair: tuple[int, str] = (1, "one")
    by_number: dict[int, str] = Field(default_factory=dict)
    by_colour: dict[Colour, datetime] = Field(default_factory=dict)
    tags: set[str] = Field(default_factory=set)
    owner: PydanticObjectId | None = None
    note: str | None = None
    flag: bool = False
    ratio: float = 0.5
    blob: bytes = b""

    class Settings:
        name = "assortments"


class Everyday(VersionedDocument):
    """What the services' documents hold (the embedded stand-in stores no `Decimal128` or
    binary values)."""

    title: str
    colour: Colour
    parts: list[Part] = Field(default_factory=list)
    by_colour: dict[Colour, datetime] = Field(default_factory=dict)
    owner: PydanticObjectId | None = None
    note: str | None = None

    class Settings:
        name = "everyday"


@pytest.fixture
async def db(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = await connect_database(mongo_uri, [Assortment, Everyday])
    yield client
    await client.close()


def assortment() -> Assortment:
    now = datetime(2026, 12, 3, 15, 30, 1, 123000, tzinfo=UTC)
    return Assortment(
        title="Über",
        colour=Colour.RED,
        size=Size.LARGE,
        amount=Decimal("19.99"),
        on=date(2026, 12, 3),
        parts=[Part(name="a", colour=Colour.BLUE, at=now), Part(name="b", colour=Colour.RED)],
        pair=(2, "two"),
        by_number={1: "one", 2: "two"},
        by_colour={Colour.BLUE: now},
        tags={"x"},
        owner=PydanticObjectId(),
        blob=b"\x00\x01",
    )


def beanie_document(document: Assortment) -> dict[str, Any]:
    """What Beanie writes for `document`, without the marker while nothing is pending."""
    written: dict[str, Any] = get_dict(document, to_db=True, keep_nulls=True)
    if document.outbox_at is None:
        written.pop(MARKER)
    return written


def created(document: VersionedDocument) -> TicketCreated:
    return TicketCreated(
        id=str(document.id), version=document.version, title="t", price=1, user_id="u"
    )


def same(left: Any, right: Any) -> bool:
    """Equal values of the same types all the way down (an enum is not its value)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    return bool(left == right)


async def test_stored_is_what_beanie_writes_without_an_id_or_pending_events(db: Any) -> None:
    document = assortment()
    stored = document.stored()

    assert same(stored, beanie_document(document)), (stored, beanie_document(document))
    assert "_id" not in stored
    assert MARKER not in stored
    assert stored["colour"] == "red"  # a text enum is text to BSON (Beanie keeps it as is)
    assert stored["size"] == 2
    assert stored["amount"] == Decimal128("19.99")
    assert stored["pair"] == [2, "two"]
    assert stored["by_number"] == {"1": "one", "2": "two"}


async def test_stored_is_what_beanie_writes_with_pending_events(db: Any) -> None:
    document = assortment()
    document.id = PydanticObjectId()
    document.record(created(document))
    document.outbox_at = 1_700_000_000_000

    stored = document.stored()

    assert same(stored, beanie_document(document)), (stored, beanie_document(document))
    assert stored["_id"] == document.id
    assert stored[MARKER] == 1_700_000_000_000
    assert stored["outbox"][0]["data"]["price"] == 1


async def test_a_written_document_reads_back_as_it_was(db: Any) -> None:
    now = datetime(2026, 12, 3, 15, 30, 1, 123000, tzinfo=UTC)
    document = Everyday(
        title="Über",
        colour=Colour.BLUE,
        parts=[Part(name="a", colour=Colour.RED, at=now)],
        by_colour={Colour.RED: now},
        owner=PydanticObjectId(),
    )
    await document.insert_with_event(created)

    found = await Everyday.get(document.id)

    assert found is not None
    assert found.model_dump(exclude={"outbox", "outbox_at"}) == document.model_dump(
        exclude={"outbox", "outbox_at"}
    )
