"""`Catalogue`: the tickets for sale in memory, never older than its window counted from when
its sync started, never an answer from before a change made here, one sync at a time for
the requests of a moment, reading only what changed. Time is a fake clock: what is checked is
the rule, not the machine's speed."""

import asyncio
import json
from typing import Any

import pytest
from beanie import PydanticObjectId

from common.errors import ServiceUnavailableError
from tickets.catalogue import OVERLAP_MS, Catalogue


async def settle() -> None:
    """Let every task that can run do so (the requests reach their sync)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def ms(self) -> int:
        """The wall clock, moving with the monotonic one."""
        return int(self.now * 1000)


class Database:
    """Stored tickets stamped with their write's time; reads answer what the catalogue's
    reader would (`listing.stored_tickets`), and can be held open."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.tickets: dict[PydanticObjectId, dict[str, Any]] = {}
        self.reads: list[int | None] = []
        self.reading = 0
        self.most_at_once = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.failing: Exception | None = None

    def store(self, title: str, order_id: str | None = None) -> PydanticObjectId:
        ticket_id = PydanticObjectId()
        self.tickets[ticket_id] = {"_id": ticket_id, "title": title, "version": 0}
        self.change(ticket_id, order_id=order_id)
        return ticket_id

    def change(self, ticket_id: PydanticObjectId, **fields: Any) -> None:
        ticket = self.tickets[ticket_id]
        ticket.update(
            fields, version=ticket["version"] + 1, changed_at=self.clock.ms(), price_cents=500
        )
        ticket.setdefault("user_id", "seller")

    async def read(self, since: int | None) -> list[dict[str, Any]]:
        self.reads.append(since)
        self.reading += 1
        self.most_at_once = max(self.most_at_once, self.reading)
        try:
            # What a read sees is what was stored when it started.
            if since is None:
                found = [dict(t) for t in self.tickets.values() if t.get("order_id") is None]
            else:
                found = [dict(t) for t in self.tickets.values() if t["changed_at"] >= since]
            await self.hold.wait()
            if self.failing is not None:
                raise self.failing
            return found
        finally:
            self.reading -= 1


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database(clock: Clock) -> Database:
    return Database(clock)


def catalogue_of(database: Database, **options: Any) -> Catalogue:
    clock = database.clock
    return Catalogue(database.read, clock=clock, wall_clock_ms=clock.ms, **options)


def titles(answer: bytes) -> list[str]:
    return [ticket["title"] for ticket in json.loads(answer)]


async def test_concurrent_requests_share_one_sync(database: Database) -> None:
    database.store("a")
    database.hold.clear()
    tickets = catalogue_of(database, max_age=1.0)
    waiting = [asyncio.create_task(tickets.everything()) for _ in range(20)]
    await settle()
    database.hold.set()
    assert [titles(answer) for answer in await asyncio.gather(*waiting)] == [["a"]] * 20
    assert database.reads == [None]


async def test_the_first_sync_reads_what_is_for_sale_and_the_next_ones_only_what_changed(
    clock: Clock, database: Database
) -> None:
    first, reserved = database.store("first"), database.store("reserved", order_id="o1")
    tickets = catalogue_of(database, max_age=1.0)
    assert titles(await tickets.everything()) == ["first"]
    synced_at = clock.ms()

    clock.now += 10
    second = database.store("second")
    database.change(first, order_id="o2")
    database.change(reserved, order_id=None)
    assert titles(await tickets.everything()) == ["reserved", "second"]
    assert database.reads == [None, synced_at - OVERLAP_MS]
    assert [t["id"] for t in json.loads(await tickets.everything())] == [
        str(reserved),
        str(second),
    ]


async def test_a_sync_reads_back_a_write_stamped_before_the_previous_sync_began(
    clock: Clock, database: Database
) -> None:
    """A write stamped before a sync started but stored after it (a slow write, or a
    replica whose clock is behind) is read by the next sync."""
    tickets = catalogue_of(database, max_age=1.0)
    assert titles(await tickets.everything()) == []
    clock.now += 2
    stamped_late = database.store("late")
    database.tickets[stamped_late]["changed_at"] -= OVERLAP_MS - 100  # stored 4.9 s after
    assert titles(await tickets.everything()) == ["late"]


async def test_an_answer_is_kept_for_its_window_counted_from_the_start_of_its_sync(
    clock: Clock, database: Database
) -> None:
    database.store("v1")
    tickets = catalogue_of(database, max_age=1.0)
    database.hold.clear()
    first = asyncio.create_task(tickets.everything())
    await settle()
    database.store("v2")  # stored while the sync is under way
    clock.now += 0.6  # the sync takes 0.6 s
    database.hold.set()
    assert titles(await first) == ["v1"]

    clock.now += 0.3  # 0.9 s after the sync started
    assert titles(await tickets.everything()) == ["v1"]
    assert len(database.reads) == 1
    clock.now += 0.1  # 1 s after the sync started: too old, whatever its age since it ended
    assert titles(await tickets.everything()) == ["v1", "v2"]
    assert len(database.reads) == 2


async def test_a_request_does_not_join_a_sync_older_than_the_window_and_syncs_run_one_at_a_time(
    clock: Clock, database: Database
) -> None:
    database.store("v1")
    database.hold.clear()
    tickets = catalogue_of(database, max_age=1.0)
    slow = asyncio.create_task(tickets.everything())
    await settle()
    database.store("v2")
    clock.now += 1.0
    later = asyncio.create_task(tickets.everything())
    await settle()
    database.hold.set()
    assert titles(await later) == ["v1", "v2"]
    assert titles(await slow)[0] == "v1"  # what its sync read, or newer
    assert len(database.reads) == 2
    assert database.most_at_once == 1


async def test_a_change_made_here_is_in_the_next_answer_and_not_in_a_sync_begun_before_it(
    clock: Clock, database: Database
) -> None:
    database.store("v1")
    tickets = catalogue_of(database, max_age=60.0)
    assert titles(await tickets.everything()) == ["v1"]

    database.store("v2")
    tickets.changed()
    assert titles(await tickets.everything()) == ["v1", "v2"]

    database.hold.clear()
    database.store("v3")
    tickets.changed()
    before = asyncio.create_task(tickets.page(None, 10))
    await settle()
    database.store("v4")
    tickets.changed()
    after = asyncio.create_task(tickets.page(None, 10))  # asked after the change: must not join
    await settle()
    database.hold.set()
    assert titles(await before)[:3] == ["v1", "v2", "v3"]
    assert titles(await after) == ["v1", "v2", "v3", "v4"]
    assert titles(await tickets.everything()) == ["v1", "v2", "v3", "v4"]
    assert database.most_at_once == 1


async def test_a_failed_sync_fails_its_requests_changes_nothing_and_the_next_request_syncs(
    clock: Clock, database: Database
) -> None:
    kept = database.store("kept")
    tickets = catalogue_of(database, max_age=1.0)
    assert titles(await tickets.everything()) == ["kept"]

    clock.now += 2
    database.store("new")
    database.change(kept, order_id="o1")
    database.failing = ConnectionError("database down")
    with pytest.raises(ConnectionError):
        await tickets.everything()
    database.failing = None
    assert titles(await tickets.everything()) == ["new"]
    assert database.reads[1] == database.reads[2]  # the failed sync did not move the start


async def test_a_request_waits_for_a_slow_sync_no_longer_than_its_limit(
    clock: Clock, database: Database
) -> None:
    database.store("a")
    database.hold.clear()
    tickets = catalogue_of(database, max_age=1.0, wait=0.05)
    with pytest.raises(ServiceUnavailableError):
        await tickets.everything()
    assert not tickets.loaded
    database.hold.set()  # the sync went on: the next request gets its answer
    assert titles(await tickets.everything()) == ["a"]
    assert database.reads == [None]


async def test_a_request_that_goes_away_does_not_cancel_the_sync_of_the_others(
    clock: Clock, database: Database
) -> None:
    database.store("a")
    database.hold.clear()
    tickets = catalogue_of(database, max_age=1.0)
    leaving = asyncio.create_task(tickets.everything())
    staying = asyncio.create_task(tickets.everything())
    await settle()
    leaving.cancel()
    database.hold.set()
    assert titles(await staying) == ["a"]
    assert len(database.reads) == 1


async def test_pages_start_after_the_given_id_wherever_it_is(
    clock: Clock, database: Database
) -> None:
    ids = [database.store(f"t{n}") for n in range(5)]
    database.change(ids[2], order_id="o1")  # reserved: not listed, still a valid cursor
    tickets = catalogue_of(database, max_age=1.0)
    assert titles(await tickets.page(None, 2)) == ["t0", "t1"]
    assert titles(await tickets.page(ids[1], 2)) == ["t3", "t4"]
    assert titles(await tickets.page(ids[2], 2)) == ["t3", "t4"]
    assert titles(await tickets.page(ids[4], 2)) == []
    assert titles(await tickets.page(ids[0], None)) == ["t1", "t3", "t4"]
    assert titles(await tickets.page(PydanticObjectId("0" * 24), 1)) == ["t0"]


async def test_the_whole_list_is_made_once_per_change(clock: Clock, database: Database) -> None:
    database.store("a")
    tickets = catalogue_of(database, max_age=1.0)
    answer = await tickets.everything()
    clock.now += 2  # a sync that finds nothing changed keeps the answer
    assert await tickets.everything() is answer
    database.store("b")
    clock.now += 2
    assert titles(await tickets.everything()) == ["a", "b"]


async def test_readiness_is_the_first_sync(clock: Clock, database: Database) -> None:
    database.store("a")
    database.failing = ConnectionError("database down")
    tickets = catalogue_of(database, max_age=1.0)
    assert await tickets.readiness() == {"catalogue": False}
    database.failing = None
    assert await tickets.readiness() == {"catalogue": True}
    assert titles(await tickets.everything()) == ["a"]
    assert len(database.reads) == 2
