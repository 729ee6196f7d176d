"""The public list of tickets as JSON, read as raw documents and written straight to JSON:
no document models are built and validated on the way (the tickets were validated when they
were stored). Each ticket is the same as `TicketResponse` gives for it. The list itself is
kept by `tickets.catalogue`; this module reads and renders what it keeps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pymongo
from pydantic_core import to_json
from pymongo.asynchronous.cursor import AsyncCursor

from common.money import price_of, with_price_in_cents
from tickets.models import CHANGED_AT, UNRESERVED, Ticket

LISTED_FIELDS: dict[str, int] = {
    "title": 1,
    "price_cents": 1,
    "price": 1,  # a ticket stored before prices were kept in cents (`with_price_in_cents`)
    "user_id": 1,
    "version": 1,
    "order_id": 1,
}
"""What a listed ticket shows, as a projection."""

LIST_MAX_AGE_SECONDS = 0.5
"""How old the list may be when it is answered: a ticket reserved (or changed) through
another replica is listed as it was for less than this after the change."""

READ_BUDGET_SECONDS = 30.0
"""The time budget of one read of the catalogue's changes (every ticket for sale, the first
time: seconds at 100,000 tickets in the embedded stand-in). Requests do not wait that long
(`catalogue.ANSWER_WAIT_SECONDS`); the read goes on for the ones after them."""


def listed_ticket(document: dict[str, Any]) -> dict[str, Any]:
    """A stored ticket (`LISTED_FIELDS`) as the API shows it: `TicketResponse`'s fields."""
    document = with_price_in_cents(document)
    return {
        "id": str(document["_id"]),
        "title": document["title"],
        "price": price_of(document["price_cents"]),
        "userId": document["user_id"],
        "version": document["version"],
        "orderId": document.get("order_id"),
    }


def listed_ticket_json(document: dict[str, Any]) -> bytes:
    return to_json(listed_ticket(document))


def json_array(listed: Iterable[bytes]) -> bytes:
    """Listed tickets' JSON (`listed_ticket_json`) as one JSON array."""
    return b"[" + b",".join(listed) + b"]"


def listing_json(documents: list[dict[str, Any]]) -> bytes:
    return json_array(listed_ticket_json(document) for document in documents)


async def stored_tickets(changed_since_ms: int | None) -> list[dict[str, Any]]:
    """The tickets stored (`Ticket.stored`) since `changed_since_ms`, whether for sale or
    not (`changed_since`); with None, every ticket for sale."""
    collection = Ticket.get_pymongo_collection()
    with pymongo.timeout(READ_BUDGET_SECONDS):
        if changed_since_ms is None:
            # Whole documents: they are small, and the embedded stand-in applies a projection
            # document by document, which doubles the cost of a long read.
            return await collection.find(UNRESERVED).to_list()
        return await changed_since(changed_since_ms).to_list()


def changed_since(since_ms: int) -> AsyncCursor[dict[str, Any]]:
    """The tickets written since `since_ms`, through the `changed` index: what a sync reads
    costs the writes since then, not the size of the catalogue."""
    collection = Ticket.get_pymongo_collection()
    return collection.find({CHANGED_AT: {"$gte": since_ms}}, LISTED_FIELDS)
