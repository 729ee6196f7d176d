"""Search by words of the title (`GET /api/tickets?q=`), page by page like the listing.

A ticket stores the words of its title (`words`: lower-cased, accents removed, each word once)
with every write, and a search is an exact match on all the words asked for, among the
tickets for sale, in `_id` order. On MongoDB the compound index (`words`, `_id`) answers it:
the first word of the query is an equality on the index's multikey prefix, so the page comes
in `_id` order straight from the index from the `after` cursor on, and a page costs its
`limit` (times how many candidates the other words reject), however large the catalogue.
A `$text` index would stem words and score matches, but it cannot give `_id` order: every
match of the query would be read and sorted for each page.

Equality on array elements and `$all` are the same on the embedded stand-in of local runs
and tests, which gets the index on `words` alone (a compound index with `_id` breaks its
inserts, see `tickets.models.ensure_listing_index`); there `$all` is the form it answers
correctly with an index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, UpdateOne

from common.errors import RequestValidationFailed
from tickets.listing import LISTED_FIELDS, listing_json
from tickets.models import STAND_IN_PROCESS, UNRESERVED, Ticket
from tickets.schemas import Page
from tickets.title_words import words_of

logger = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 200
MAX_QUERY_WORDS = 10


@dataclass
class Search:
    """`?q=`: the words every ticket found has in its title."""

    words: list[str]


async def search_params(q: str | None = None) -> Search | None:
    """The search query parameter: None when absent or blank (the plain listing), else its
    words, or a 400 naming `q` (async: FastAPI runs a plain function in a worker thread)."""
    if q is None or not q.strip():
        return None
    words = words_of(q)
    if len(q) > MAX_QUERY_LENGTH:
        message = f"Search must be at most {MAX_QUERY_LENGTH} characters"
    elif not words:
        message = "Search must contain a word"
    elif len(words) > MAX_QUERY_WORDS:
        message = f"Search must be at most {MAX_QUERY_WORDS} words"
    else:
        return Search(words)
    raise RequestValidationFailed([{"message": message, "field": "q"}])


async def search(query: Search, page: Page) -> bytes:
    """Tickets for sale whose title has every word of `query`, oldest first, paged, as the
    listing's JSON (`tickets.listing`)."""
    conditions: dict[str, Any] = {"words": {"$all": query.words}, **UNRESERVED}
    if page.after is not None:
        conditions["_id"] = {"$gt": page.after}
    cursor = Ticket.get_pymongo_collection().find(conditions, LISTED_FIELDS).sort("_id", ASCENDING)
    if page.limit is not None:
        cursor = cursor.limit(page.limit)
    return listing_json(await cursor.to_list())


BACKFILL_BATCH = 500


async def ensure_search_index() -> None:
    """Index the words (see the module docstring), and give the words to tickets stored
    before they were kept (each update conditioned on the words still missing, so it never
    overwrites a newer write)."""
    collection = Ticket.get_pymongo_collection()
    build = await collection.database.client.admin.command("buildInfo")
    if build.get("process") == STAND_IN_PROCESS:
        await collection.create_index([("words", ASCENDING)], name="title_words")
    else:
        await collection.create_index(
            [("words", ASCENDING), ("_id", ASCENDING)], name="title_words_by_id"
        )
    missing = {"words": {"$exists": False}}
    while batch := await collection.find(missing, {"title": 1}).limit(BACKFILL_BATCH).to_list():
        await collection.bulk_write(
            [
                UpdateOne({"_id": d["_id"], **missing}, {"$set": {"words": words_of(d["title"])}})
                for d in batch
            ],
            ordered=False,
        )
        logger.info("gave title words to %d tickets stored before search", len(batch))
