"""The list and its pages cost the same however many tickets there are: they are answered
from the replica's catalogue (`tickets.catalogue`), which reads from the database only the
tickets written since its last sync.

That read (`listing.changed_since`) walks the `changed` index and examines only the tickets
it returns, on MongoDB (checked by the plan's statistics, in CI) and on the embedded
stand-in (SQLite's plan names the index; it gives no statistics).
"""

import asyncio

from beanie import PydanticObjectId
from httpx import AsyncClient

from common.outbox import now_ms
from testsupport.plans import docs_examined, on_stand_in, stand_in_plan, winning_stages
from tickets.listing import changed_since
from tickets.models import Ticket

PAGE = 20
TICKETS = 240


async def catalogue() -> list[Ticket]:
    """`TICKETS` tickets, every third one reserved."""
    tickets = [
        Ticket(id=PydanticObjectId(), title=f"concert {n}", price_cents=1000 + n, user_id="a" * 24)
        for n in range(TICKETS)
    ]
    for n, ticket in enumerate(tickets):
        if n % 3 == 0:
            ticket.hold(f"{n:024x}")
    for start in range(0, TICKETS, 60):  # small writes: the test's database has short timeouts
        await Ticket.insert_many(tickets[start : start + 60])
    return sorted(tickets, key=lambda ticket: str(ticket.id))


async def test_a_sync_reads_only_what_changed_through_the_changed_index(
    client: AsyncClient,
) -> None:
    tickets = await catalogue()
    free = [str(t.id) for t in tickets if t.order_id is None]
    deep_after = free[len(free) // 2]

    # The answers are right, wherever the test runs.
    first = (await client.get("/api/tickets", params={"limit": PAGE})).json()
    assert [t["id"] for t in first] == free[:PAGE]
    deep = (await client.get("/api/tickets", params={"limit": PAGE, "after": deep_after})).json()
    start = free.index(deep_after) + 1
    assert [t["id"] for t in deep] == free[start : start + PAGE]

    await asyncio.sleep(0.01)
    since = now_ms()
    await asyncio.sleep(0.01)
    changed = await Ticket.get(tickets[1].id)
    assert changed is not None
    changed.title = "changed"
    await changed.save_next_version()
    assert [doc["_id"] for doc in await changed_since(since).to_list()] == [changed.id]

    plan = await changed_since(since).explain()
    if await on_stand_in(Ticket.get_pymongo_collection().database.client):
        lines = stand_in_plan(plan)
        assert any("USING INDEX" in line and "changed" in line for line in lines), lines
        return
    stages = winning_stages(plan)
    names = [stage["stage"] for stage in stages]
    scans = [stage.get("indexName") for stage in stages if stage["stage"] == "IXSCAN"]
    assert scans == ["changed"], stages
    assert "COLLSCAN" not in names, names
    assert docs_examined(plan) == 1, plan["executionStats"]
