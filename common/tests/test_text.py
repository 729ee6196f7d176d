"""Text the services accept: every JSON body must be valid Unicode (checked once, for every
route of every service), and one-line text has no control characters."""

import json
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel

from common.service import ServiceSpec, no_dependencies
from common.settings import ServiceSettings
from common.text import (
    has_control_characters,
    invalid_text_location,
    is_blank,
    is_valid_unicode,
)


class Body(BaseModel):
    title: str
    tags: list[str] = []


received: list[Any] = []
JSON = {"Content-Type": "application/json"}


def make_client() -> httpx.AsyncClient:
    """A service as `ServiceSpec.create_app` builds them, with a route taking a JSON body and
    one taking none; routes record what reached them."""
    router = APIRouter()

    @router.post("/items")
    async def create(body: Body) -> dict[str, str]:
        received.append(body)
        return {"title": body.title}

    @router.post("/ping")
    async def ping() -> dict[str, str]:
        received.append("ping")
        return {}

    spec = ServiceSpec(
        name="text-test", settings=ServiceSettings, dependencies=no_dependencies, routers=[router]
    )
    app = spec.create_app(ServiceSettings(JWT_KEY="k"))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def post_json(path: str, document: Any, content_type: str = "application/json") -> Any:
    """POST `document` as JSON text with `\\uXXXX` escapes, as any JSON client may spell it
    (lone surrogates included, which no UTF-8 encoder would produce)."""
    received.clear()
    async with make_client() as client:
        return await client.post(
            path, content=json.dumps(document).encode(), headers={"Content-Type": content_type}
        )


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ({"title": "\ud800"}, "title", "Title must be valid Unicode"),
        ({"title": "ok", "tags": ["fine", "bad\udfff"]}, "tags.1", "Tags must be valid Unicode"),
        ({"title": "ok", "note": {"text": "x\udbff"}}, "note.text", "Text must be valid Unicode"),
        ({"title": "ok", "\ud800": 1}, "body", "Request body must be valid Unicode"),
        ("\ud800", "body", "Request body must be valid Unicode"),
    ],
)
async def test_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_the_field(
    document: Any, field: str, message: str
) -> None:
    response = await post_json("/items", document)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": message, "field": field}]}
    assert received == []


async def test_also_when_the_surrogate_comes_as_raw_bytes() -> None:
    """UTF-8 has no surrogates, but Python's JSON decoder lets their 3-byte forms through."""
    received.clear()
    async with make_client() as client:
        response = await client.post("/items", content=b'{"title": "\xed\xa0\x80"}', headers=JSON)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"message": "Title must be valid Unicode", "field": "title"}
    ]
    assert received == []


async def test_also_for_a_route_that_takes_no_body_and_for_json_subtypes() -> None:
    response = await post_json("/ping", {"x": "\ud800"}, "application/merge-patch+json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "x"
    assert received == []


async def test_a_surrogate_pair_is_one_valid_character() -> None:
    response = await post_json("/items", {"title": "jazz \U0001f3b7"})  # sent as \ud83c\udfb7
    assert response.status_code == 200
    assert response.json() == {"title": "jazz \U0001f3b7"}


async def test_a_body_that_is_not_json_is_left_to_the_route() -> None:
    async with make_client() as client:
        form = await client.post("/ping", data={"title": "x"})
        broken = await client.post("/items", content=b'{"title": "\\ud800', headers=JSON)
        deep = [
            await client.post(path, content=b"[" * 100_000, headers=JSON)
            for path in ("/ping", "/items")
        ]
    assert form.status_code == 200
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["field"] == "body"
    assert deep[0].status_code == 200  # the route reads no body
    assert deep[1].status_code == 400
    assert "errors" in deep[1].json()


def test_invalid_text_location_walks_deep_documents_without_recursion() -> None:
    document: Any = "\ud800"
    for _ in range(50_000):
        document = [document]
    assert invalid_text_location(document) == [0] * 50_000
    assert invalid_text_location({"a": [{"b": "fine"}, 1, None, True, 2.5]}) is None


@pytest.mark.parametrize(
    "text",
    ["a\x00b", "a\x1bb", "line\nbreak", "tab\there", "a\x7fb", "a\x85b", "a\u2028b", "a\u2029b"]
    + [f"a{char}b" for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"],
)
def test_control_characters_have_no_place_in_one_line(text: str) -> None:
    assert has_control_characters(text)


@pytest.mark.parametrize(
    "text",
    [
        "Jazz night",
        "Caf\u00e9 Z\u00fcrich \u2014 \u65e5\u672c",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family day",  # emoji joined by ZWJ
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with a ZWNJ
        "\u05e9\u05dc\u05d5\u05dd \u200f(RLM)",
    ],
)
def test_text_of_any_script_is_one_line(text: str) -> None:
    assert not has_control_characters(text)
    assert not is_blank(text)
    assert is_valid_unicode(text)


def test_blank_is_whitespace_or_invisible_characters_only() -> None:
    assert is_blank("")
    assert is_blank(" \t\u3000")
    assert is_blank("\u200b\ufeff ")
    assert not is_blank(" a ")
    assert not is_valid_unicode("a\ud800")
