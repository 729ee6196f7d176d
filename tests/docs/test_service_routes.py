"""Every service's routes, flattened into one router when its app is built
(`common.routing`), are what its routers declare: the same OpenAPI document, the same paths,
methods and names, whatever the nesting of the routers they were written in."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts

from common.apidocs import create_fastapi_app
from common.routing import include_flattened
from common.service import ServiceSpec
from common.text import reject_invalid_text
from devstack.platform import SPECS


def app_with(
    spec: ServiceSpec[Any, Any], routers: list[APIRouter], *, own: bool = False
) -> FastAPI:
    """The service's app with `routers` included, or (`own`) as the app's own routes."""
    app = create_fastapi_app(
        spec.name, spec.api_prefix, dependencies=[Depends(reject_invalid_text)]
    )
    for router in routers:
        if own:
            include_flattened(app, router)
        else:
            app.include_router(router)
    return app


@pytest.mark.parametrize("name", [name for name, spec in SPECS.items() if spec.routers])
def test_flattened_routes_are_the_routes_the_routers_declare(name: str) -> None:
    spec = SPECS[name]
    included = app_with(spec, list(spec.routers))
    flat = app_with(spec, list(spec.routers), own=True)

    def routes(app: FastAPI) -> list[tuple[str | None, set[str] | None, str | None]]:
        return [(c.path_format, c.methods, c.name) for c in iter_route_contexts(app.routes)]

    assert routes(flat) == routes(included)
    assert len(routes(flat)) >= 1
    if spec.api_prefix is not None:
        assert flat.openapi() == included.openapi()
