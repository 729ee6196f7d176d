"""A page of the listing costs one page, however many tickets there are.

On MongoDB the listing's query (as `TicketService.listing` builds it: unreserved tickets in
`_id` order, after the cursor, one page) walks the `unreserved_by_id` index from the page's
start and examines no more documents than it returns (plus one). The embedded stand-in has
no index for a range on `_id`; there the test checks what it can: that the first page walks
the tickets in `_id` order (no `order_id` index, which would make it fetch and sort every
unreserved ticket), and that the pages are right (benchmarks/README.md has its plans).
"""

from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient
from pymongo.asynchronous.cursor import AsyncCursor

from testsupport.plans import docs_examined, on_stand_in, stand_in_plan, winning_stages
from tickets.listing import LISTED_FIELDS
from tickets.models import UNRESERVED, Ticket

PAGE = 20
TICKETS = 240


def listing(after: Any = None) -> AsyncCursor[dict[str, Any]]:
    query: dict[str, Any] = dict(UNRESERVED)
    if after is not None:
        query["_id"] = {"$gt": after}
    return Ticket.get_pymongo_collection().find(query, LISTED_FIELDS).sort("_id", 1).limit(PAGE)


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


async def test_pages_read_one_page_through_the_listing_index(client: AsyncClient) -> None:
    tickets = await catalogue()
    free = [str(t.id) for t in tickets if t.order_id is None]
    deep_after = free[len(free) // 2]

    # The answers are right, wherever the test runs.
    first = (await client.get("/api/tickets", params={"limit": PAGE})).json()
    assert [t["id"] for t in first] == free[:PAGE]
    deep = (await client.get("/api/tickets", params={"limit": PAGE, "after": deep_after})).json()
    start = free.index(deep_after) + 1
    assert [t["id"] for t in deep] == free[start : start + PAGE]

    collection = Ticket.get_pymongo_collection()
    first_plan = await listing().explain()
    if await on_stand_in(collection.database.client):
        lines = stand_in_plan(first_plan)
        assert not any("order_id" in line for line in lines), lines
        return
    for after in (None, tickets[0].id, PydanticObjectId(deep_after)):
        plan = await listing(after).explain()
        stages = winning_stages(plan)
        names = [stage["stage"] for stage in stages]
        scans = [stage.get("indexName") for stage in stages if stage["stage"] == "IXSCAN"]
        assert scans, stages
        assert set(scans) == {"unreserved_by_id"}, stages
        assert "COLLSCAN" not in names, names
        assert "SORT" not in names, names  # the index gives the order: no sort of the matches
        assert docs_examined(plan) <= PAGE + 1, plan["executionStats"]
