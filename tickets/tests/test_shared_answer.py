"""`SharedAnswer`: one read for the requests of a moment, an answer never kept beyond its
window counted from when its read started, and never an answer read before a change made
here. Time is a fake clock: what is checked is the rule, not the machine's speed."""

import asyncio

import pytest

from tickets import listing
from tickets.listing import SharedAnswer


async def settle() -> None:
    """Let every task that can run do so (the requests reach their read)."""
    for _ in range(10):
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Database:
    """Answers reads with its current content; a read can be held open."""

    def __init__(self) -> None:
        self.content = b"v1"
        self.reads = 0
        self.hold = asyncio.Event()
        self.hold.set()

    async def read(self) -> bytes:
        self.reads += 1
        content = self.content  # what the read sees is what was stored when it started
        await self.hold.wait()
        return content


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(listing.time, "monotonic", fake)
    return fake


async def test_concurrent_requests_share_one_read(clock: Clock) -> None:
    database = Database()
    database.hold.clear()
    shared = SharedAnswer(database.read, max_age=1.0)
    waiting = [asyncio.create_task(shared.get()) for _ in range(20)]
    await settle()
    database.hold.set()
    assert await asyncio.gather(*waiting) == [b"v1"] * 20
    assert database.reads == 1


async def test_an_answer_is_kept_for_its_window_counted_from_the_start_of_its_read(
    clock: Clock,
) -> None:
    database = Database()
    shared = SharedAnswer(database.read, max_age=1.0)
    database.hold.clear()
    first = asyncio.create_task(shared.get())
    await settle()
    database.content = b"v2"  # stored while the read is under way
    clock.now += 0.6  # the read takes 0.6 s
    database.hold.set()
    assert await first == b"v1"

    clock.now += 0.3  # 0.9 s after the read started
    assert await shared.get() == b"v1"
    assert database.reads == 1
    clock.now += 0.1  # 1 s after the read started: too old, whatever its age since it ended
    assert await shared.get() == b"v2"
    assert database.reads == 2


async def test_a_request_does_not_join_a_read_older_than_the_window(clock: Clock) -> None:
    database = Database()
    database.hold.clear()
    shared = SharedAnswer(database.read, max_age=1.0)
    slow = asyncio.create_task(shared.get())
    await settle()
    database.content = b"v2"
    clock.now += 1.0
    later = asyncio.create_task(shared.get())
    await settle()
    database.hold.set()
    assert (await slow, await later) == (b"v1", b"v2")
    assert database.reads == 2


async def test_a_change_made_here_drops_the_answer_and_the_reads_begun_before_it(
    clock: Clock,
) -> None:
    database = Database()
    shared = SharedAnswer(database.read, max_age=60.0)
    assert await shared.get() == b"v1"

    database.content = b"v2"
    shared.changed()
    assert await shared.get() == b"v2"

    database.hold.clear()
    before = asyncio.create_task(shared.get())  # v2 would do: nothing changed yet
    database.content = b"v2 and more"
    await settle()
    shared.changed()
    database.content = b"v3"
    after = asyncio.create_task(shared.get())  # asked after the change: must not join
    await settle()
    database.hold.set()
    assert await after == b"v3"
    await before
    assert await shared.get() == b"v3"  # the read begun before the change was not kept


async def test_a_failed_read_fails_its_requests_and_the_next_request_reads_again(
    clock: Clock,
) -> None:
    attempts = 0

    async def flaky() -> bytes:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("database down")
        return b"back"

    shared = SharedAnswer(flaky, max_age=60.0)
    with pytest.raises(ConnectionError):
        await shared.get()
    assert await shared.get() == b"back"


async def test_a_request_that_goes_away_does_not_cancel_the_read_of_the_others(
    clock: Clock,
) -> None:
    database = Database()
    database.hold.clear()
    shared = SharedAnswer(database.read, max_age=1.0)
    leaving = asyncio.create_task(shared.get())
    staying = asyncio.create_task(shared.get())
    await settle()
    leaving.cancel()
    database.hold.set()
    assert await staying == b"v1"
    assert database.reads == 1
