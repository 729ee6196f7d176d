"""An API service's documentation (`common.apidocs`): the docs page and the OpenAPI under the
service's prefix, Swagger UI's assets served by the service itself, and an OpenAPI that lists
the errors the service really answers (`common.responses`), not FastAPI's 422."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from common.apidocs import create_fastapi_app
from common.errors import install_error_handlers
from common.responses import ResponseModel, error_responses

PREFIX = "/api/things"


class ThingBody(BaseModel):
    name: str


class ThingResponse(ResponseModel):
    id: str
    owner_id: str
    parent_id: str | None = None


router = APIRouter()


@router.post(PREFIX, status_code=201, responses=error_responses(400, 429))
async def create_thing(body: ThingBody, limit: int = 1) -> ThingResponse:
    return ThingResponse(id="1", owner_id=body.name)


def make_app() -> FastAPI:
    app = create_fastapi_app("things", PREFIX)
    install_error_handlers(app)
    app.include_router(router)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_the_docs_page_loads_its_assets_from_the_service(client: httpx.AsyncClient) -> None:
    page = await client.get(f"{PREFIX}/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not re.search(r"https?://", page.text)
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sorted(assets) == [
        f"{PREFIX}/docs/assets/favicon.png",
        f"{PREFIX}/docs/assets/swagger-ui-bundle.js",
        f"{PREFIX}/docs/assets/swagger-ui.css",
    ]
    for asset in assets:
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    assert (await client.get(f"{PREFIX}/docs/oauth2-redirect")).status_code == 200
    assert (await client.get("/docs")).status_code == 404


async def test_the_openapi_lists_the_answers_in_the_contract_shapes(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    answers = document["paths"][PREFIX]["post"]["responses"]
    assert set(answers) == {"201", "400", "429"}
    assert answers["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ThingResponse"
    }
    for status in ("400", "429"):
        assert answers[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }
    assert answers["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"

    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    thing = schemas["ThingResponse"]
    assert set(thing["properties"]) == {"id", "ownerId", "parentId"}
    assert set(thing["required"]) == {"id", "ownerId", "parentId"}  # null, never absent
    assert schemas["ErrorDetail"]["required"] == ["message"]
    assert schemas["ErrorDetail"]["properties"]["field"] == {"type": "string", "title": "Field"}


async def test_the_answers_are_what_the_openapi_says(client: httpx.AsyncClient) -> None:
    created = await client.post(PREFIX, json={"name": "ada"})
    assert created.status_code == 201
    assert created.json() == {"id": "1", "ownerId": "ada", "parentId": None}
    invalid = await client.post(PREFIX, json={})
    assert invalid.status_code == 400
    assert invalid.json() == {"errors": [{"message": "Field required", "field": "name"}]}


def test_a_service_without_a_prefix_serves_no_docs() -> None:
    app = create_fastapi_app("client", None)
    assert (app.docs_url, app.openapi_url) == (None, None)
