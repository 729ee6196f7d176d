"""Titles are bounded text, on creation and on update alike: 1 to 200 characters after
trimming, valid Unicode, no control characters; anything else is a 400 naming `title`, and
nothing is stored or published."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from httpx import AsyncClient, Response

from testsupport.doubles import RecordingPublisher
from tickets.models import Ticket

Auth = Callable[..., dict[str, str]]
SELLER = "0123456789abcdef01234567"

TOO_LONG = "Title must be between 1 and 200 characters"
CONTROL = "Title must not contain control characters"
INVALID_UNICODE = "Title must be valid Unicode"
REQUIRED = "Title is required"


async def send(
    client: AsyncClient, auth: Auth, method: str, url: str, body: dict[str, Any]
) -> Response:
    """`body` as JSON text with `\\uXXXX` escapes, so a lone surrogate can be sent (as any
    JSON client may spell it) although it has no UTF-8 form."""
    headers = {**auth(SELLER), "Content-Type": "application/json"}
    return await client.request(method, url, content=json.dumps(body).encode(), headers=headers)


@pytest.fixture(params=["POST", "PUT"])
async def save_title(
    request: pytest.FixtureRequest, client: AsyncClient, auth: Auth
) -> Callable[[str], Any]:
    """Create a ticket with the title (POST), or update a stored ticket to it (PUT)."""
    method, url, price = "POST", "/api/tickets", 20
    if request.param == "PUT":
        created = await send(client, auth, "POST", url, {"title": "Jazz", "price": 20})
        assert created.status_code == 201
        method, url, price = "PUT", f"/api/tickets/{created.json()['id']}", 30

    async def save(title: str) -> Response:
        return await send(client, auth, method, url, {"title": title, "price": price})

    return save


async def stored_titles() -> list[str]:
    return [ticket.title for ticket in await Ticket.find_all().to_list()]


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("x" * 201, TOO_LONG),
        ("x" * 1_000_000, TOO_LONG),
        ("\ud800", INVALID_UNICODE),
        ("Jazz \udfff night", INVALID_UNICODE),
        ("Jazz\x00night", CONTROL),
        ("Jazz \x1b[31mnight", CONTROL),
        ("Jazz\nnight", CONTROL),
        ("Jazz\tnight", CONTROL),
        ("Jazz\x7fnight", CONTROL),
        ("Jazz\x85night", CONTROL),
        ("Jazz\u2028night", CONTROL),
        ("Jazz \u202enight", CONTROL),
        ("\u200b", REQUIRED),
        (" \ufeff\t", REQUIRED),
    ],
)
async def test_a_bad_title_is_a_400_naming_the_title_and_nothing_changes(
    save_title: Callable[[str], Any], publisher: RecordingPublisher, title: str, message: str
) -> None:
    before = await stored_titles()
    events_before = len(publisher.published)

    response = await save_title(title)

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": message, "field": "title"}]}
    assert await stored_titles() == before
    assert len(publisher.published) == events_before


@pytest.mark.parametrize(
    ("title", "stored"),
    [
        ("x" * 200, "x" * 200),
        ("  " + "y" * 200 + "\n", "y" * 200),  # 200 characters once trimmed
        ("\n\tJazz night ", "Jazz night"),
        ("Caf\u00e9 \u65e5\u672c \U0001f3b7", "Caf\u00e9 \u65e5\u672c \U0001f3b7"),
        (
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 day",
            "\U0001f468\u200d\U0001f469\u200d\U0001f467 day",
        ),
        (
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
            "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        ),
    ],
)
async def test_a_title_of_any_script_up_to_200_characters_is_saved_trimmed(
    save_title: Callable[[str], Any], title: str, stored: str
) -> None:
    response = await save_title(title)

    assert response.status_code in (200, 201)
    assert response.json()["title"] == stored
    assert stored in await stored_titles()
