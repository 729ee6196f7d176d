"""`common.routing.flattened`: the routes of nested routers as one router's own, the same to
the clients and in the OpenAPI document, each keeping what its inclusion gave it."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi.responses import PlainTextResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel
from starlette.routing import Route

from common.errors import BadRequestError, install_error_handlers
from common.responses import ResponseModel, error_responses
from common.routing import flattened, include_flattened


class PartBody(BaseModel):
    name: str


class PartResponse(ResponseModel):
    id: str
    part_name: str


async def needs_token(x_token: Annotated[str | None, Header()] = None) -> None:
    """A dependency given by an inclusion (`include_router(dependencies=...)`)."""
    if x_token != "secret":
        raise BadRequestError("X-Token is wrong")


async def who(request: Request) -> str:
    return request.headers.get("x-user", "nobody")


parts = APIRouter()


@parts.get("/{part_id}", responses=error_responses(404))
async def show_part(part_id: int, user: Annotated[str, Depends(who)]) -> PartResponse:
    """One part, by its number."""
    return PartResponse(id=str(part_id), part_name=f"{user}'s part")


@parts.post("", status_code=201, responses=error_responses(400))
async def add_part(body: PartBody) -> PartResponse:
    return PartResponse(id="new", part_name=body.name)


@parts.delete("/{part_id}", status_code=204, deprecated=True)
async def remove_part(part_id: int) -> None:
    return None


plain = APIRouter(prefix="/plain")


@plain.get("/text", response_class=PlainTextResponse, include_in_schema=False)
async def text() -> str:
    return "just text"


def nested() -> APIRouter:
    """Routers included in routers, with prefixes, tags, dependencies and responses."""
    middle = APIRouter(prefix="/api")
    middle.include_router(
        parts,
        prefix="/parts",
        tags=["parts"],
        dependencies=[Depends(needs_token)],
        responses=error_responses(503),
    )
    middle.include_router(plain)
    top = APIRouter()
    top.include_router(middle)
    return top


def app_of(router: APIRouter, *, own: bool = False) -> FastAPI:
    """An app with `router`'s routes, included, or (`own`) as the app's own routes."""
    app = FastAPI(title="parts")
    install_error_handlers(app)
    if own:
        include_flattened(app, router)
    else:
        app.include_router(router)
    return app


def direct_routes(router: APIRouter) -> list[APIRoute]:
    return [route for route in router.routes if isinstance(route, APIRoute)]


def test_the_routes_become_direct_routes_with_their_whole_paths() -> None:
    flat = flattened(nested())

    assert len(flat.routes) == len(direct_routes(flat)) == 4
    assert [(route.path, sorted(route.methods or ())) for route in direct_routes(flat)] == [
        ("/api/parts/{part_id}", ["GET"]),
        ("/api/parts", ["POST"]),
        ("/api/parts/{part_id}", ["DELETE"]),
        ("/api/plain/text", ["GET"]),
    ]


def test_the_routes_become_the_apps_own_routes() -> None:
    def beside_the_docs(app: FastAPI) -> list[type]:
        return [type(route) for route in app.router.routes if type(route) is not Route]

    assert beside_the_docs(app_of(nested(), own=True)) == [APIRoute] * 4
    (level,) = beside_the_docs(app_of(flattened(nested())))  # included: a level of its own
    assert level is not APIRoute


@pytest.mark.parametrize("own", [False, True], ids=["flattened", "the app's own"])
def test_the_openapi_document_is_the_same(own: bool) -> None:
    included = app_of(nested())
    flat = app_of(nested(), own=True) if own else app_of(flattened(nested()))

    assert flat.openapi() == included.openapi()
    assert [(c.path_format, c.methods, c.name) for c in iter_route_contexts(flat.routes)] == [
        (c.path_format, c.methods, c.name) for c in iter_route_contexts(included.routes)
    ]


@pytest.mark.parametrize(
    "mode", ["included", "flattened", "the app's own"], ids=["included", "flattened", "own"]
)
async def test_requests_are_answered_the_same(mode: str) -> None:
    router = flattened(nested()) if mode == "flattened" else nested()
    transport = httpx.ASGITransport(app=app_of(router, own=mode == "the app's own"))
    token = {"X-Token": "secret"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        shown = await http.get("/api/parts/7", headers={**token, "X-User": "ann"})
        refused = await http.get("/api/parts/7")
        invalid = await http.get("/api/parts/seven", headers=token)
        added = await http.post("/api/parts", json={"name": "bolt"}, headers=token)
        removed = await http.delete("/api/parts/7", headers=token)
        wrong_method = await http.put("/api/parts/7", headers=token)
        missing = await http.get("/api/nothing")
        text = await http.get("/api/plain/text")

    answers: list[tuple[int, Any]] = [
        (shown.status_code, shown.json()),
        (refused.status_code, refused.json()),
        (invalid.status_code, invalid.json()["errors"][0]["field"]),
        (added.status_code, added.json()),
        (removed.status_code, removed.content),
        (wrong_method.status_code, None),
        (missing.status_code, None),
        (text.status_code, text.text),
    ]
    assert answers == [
        (200, {"id": "7", "partName": "ann's part"}),
        (400, {"errors": [{"message": "X-Token is wrong"}]}),
        (400, "part_id"),
        (201, {"id": "new", "partName": "bolt"}),
        (204, b""),
        (405, None),
        (404, None),
        (200, "just text"),
    ]
    assert text.headers["content-type"].startswith("text/plain")


def test_a_router_with_other_routes_than_api_routes_is_kept_as_it_is() -> None:
    router = APIRouter()
    router.include_router(parts, prefix="/parts")

    @router.websocket("/live")
    async def live() -> None:  # pragma: no cover - never connected
        return None

    assert flattened(router) is router
