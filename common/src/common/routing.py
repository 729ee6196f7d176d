"""A service's routes as the app's own, so that finding a request's route is cheap.

The services write one small router per route (a module each) and gather them under a prefix
(`router.include_router(module.router, prefix="/api/tickets")`). FastAPI keeps an included
router as a level of its own, and finds a request's route by walking every level twice (to
match, then to handle): with the health and metrics routers beside it, routing cost more than
the rest of the framework's work on a simple route. `include_flattened` makes the same routes
the app's own direct routes (`flattened`: those of a new router), each with everything its
inclusion gave it (whole path, dependencies, tags, responses, response class...), so the app
and its OpenAPI document are the same and a request is matched on the app's router alone.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

ROUTE_OPTIONS = tuple(
    name
    for name in inspect.signature(APIRouter.add_api_route).parameters
    if name not in ("self", "path", "endpoint", "route_class_override", "form_limits")
)
"""What `add_api_route` takes besides the path and the endpoint, read from each included
route as its inclusion made it (the route's own class and form limits come from the route)."""


def flattened(router: APIRouter) -> APIRouter:
    """`router`'s routes, at any depth of inclusion, as the direct routes of one router.

    A router holding anything else than API routes (a mount, a websocket) is returned as it
    is."""
    routes = _api_routes(router)
    if routes is None:
        return router
    flat = APIRouter()
    _add(flat, routes)
    return flat


def include_flattened(app: FastAPI, router: APIRouter) -> None:
    """`router`'s routes as the app's own direct routes: a request is matched on the app's
    router alone. (Including even a flat router adds a level: FastAPI keeps every included
    router as one.) A router holding anything else than API routes is included as it is."""
    routes = _api_routes(router)
    if routes is None:
        app.include_router(router)
    else:
        _add(app.router, routes)


Found = list[tuple[str, APIRoute, Any]]


def _api_routes(router: APIRouter) -> Found | None:
    """Each route of `router` with its whole path and what its inclusion gave it; None when
    the router holds anything else than API routes."""
    found = [
        (context.path, context.original_route, context)
        for context in iter_route_contexts(router.routes)
    ]
    routes = [
        (path, route, context)
        for path, route, context in found
        if path is not None and isinstance(route, APIRoute)
    ]
    return routes if len(routes) == len(found) else None


def _add(target: APIRouter, routes: Found) -> None:
    for path, route, context in routes:
        options: dict[str, Any] = {name: getattr(context, name) for name in ROUTE_OPTIONS}
        target.add_api_route(
            path,
            route.endpoint,
            route_class_override=type(route),
            form_limits=route.form_limits,
            **options,
        )
