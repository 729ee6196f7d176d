"""The services' documentation on the running platform, through nginx only: each API
service's docs page and OpenAPI document under its own prefix, the page working in a real
browser without reaching outside the platform, and the AsyncAPI document's receivers being
the durable consumers the services really hold on JetStream."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import nats
import pytest
import yaml
from openapi_spec_validator import validate
from playwright.sync_api import Browser, Request, Route, expect

from common.events.stream import STREAM_NAME
from devstack.asyncapi import ASYNCAPI_FILE
from devstack.platform import SPECS, Platform
from testsupport.browser import launch_chromium
from testsupport.servers import eventually

pytestmark = pytest.mark.integration

TICKET = {"id", "title", "price", "userId", "version", "orderId"}
SELLER_TICKET = TICKET | {"state", "reservedUntil", "soldAt"}
ORDER = {"id", "userId", "status", "expiresAt", "version", "ticket"}
USER = {"id", "email"}

ROUTES: dict[str, dict[tuple[str, str], tuple[str, Any]]] = {
    "auth": {
        ("post", "/api/users/signup"): ("201", USER),
        ("post", "/api/users/signin"): ("200", USER),
        ("post", "/api/users/signout"): ("200", set()),
        ("get", "/api/users/currentuser"): ("200", {"currentUser"}),
    },
    "tickets": {
        ("post", "/api/tickets"): ("201", TICKET),
        ("get", "/api/tickets"): ("200", [TICKET]),
        ("get", "/api/tickets/mine"): ("200", [SELLER_TICKET]),
        ("get", "/api/tickets/{ticket_id}"): ("200", TICKET),
        ("put", "/api/tickets/{ticket_id}"): ("200", TICKET),
    },
    "orders": {
        ("post", "/api/orders"): ("201", ORDER),
        ("get", "/api/orders"): ("200", [ORDER]),
        ("get", "/api/orders/{order_id}"): ("200", ORDER),
        ("delete", "/api/orders/{order_id}"): ("204", None),
    },
    "payments": {("post", "/api/payments"): ("201", {"id"})},
}
"""Every route of the contract (sections 6 and 9: the seller's `GET /api/tickets/mine`) by
service: its success status and the properties of its JSON body (a list: an array of such
objects; None: no body)."""

ERROR_STATUSES = {"400", "401", "404", "409", "429", "503"}
PREFIXES = {name: SPECS[name].api_prefix for name in ROUTES}


def test_the_api_services_are_documented_under_their_prefixes() -> None:
    assert {name for name, spec in SPECS.items() if spec.api_prefix} == set(ROUTES)
    assert PREFIXES == {
        "auth": "/api/users",
        "tickets": "/api/tickets",
        "orders": "/api/orders",
        "payments": "/api/payments",
    }


@pytest.mark.parametrize("service", ROUTES)
def test_the_docs_page_and_its_assets_come_from_the_service(
    platform: Platform, service: str
) -> None:
    prefix = PREFIXES[service]
    response = httpx.get(f"{platform.url}{prefix}/docs")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "SwaggerUIBundle" in page
    assert f"url: '{prefix}/openapi.json'" in page
    assert not re.search(r"https?://", page), "the page names another site"

    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(assets) == 3  # the stylesheet, the icon and the script
    kinds = {"css": "text/css", "js": "text/javascript", "png": "image/png"}
    for asset in assets:
        assert asset.startswith(f"{prefix}/docs/assets/"), asset
        served = httpx.get(platform.url + asset)
        assert served.status_code == 200, asset
        assert served.headers["content-type"].startswith(kinds[asset.rsplit(".", 1)[1]])
        assert len(served.content) > 1000, asset


def schema_at(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


@pytest.mark.parametrize("service", ROUTES)
def test_the_openapi_document_lists_every_route_with_its_answers(
    platform: Platform, service: str
) -> None:
    response = httpx.get(f"{platform.url}{PREFIXES[service]}/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    validate(document)

    operations = {
        (method, path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == set(ROUTES[service])
    for route, (status, shape) in ROUTES[service].items():
        answers = operations[route]["responses"]
        assert {s for s in answers if s.startswith("2")} == {status}, route
        assert set(answers) - {status} <= ERROR_STATUSES, route  # no 422: invalid is 400
        if shape is None:
            assert "content" not in answers[status], route
        else:
            body = schema_at(document, answers[status]["content"]["application/json"]["schema"])
            if isinstance(shape, list):
                assert body["type"] == "array", route
                body, shape = schema_at(document, body["items"]), shape[0]
            assert set(body.get("properties", {})) == shape, route
            assert set(body.get("required", [])) == shape, route
        for error in set(answers) - {status}:
            failure = schema_at(document, answers[error]["content"]["application/json"]["schema"])
            assert failure["required"] == ["errors"], (route, error)
            detail = schema_at(document, failure["properties"]["errors"]["items"])
            assert set(detail["properties"]) == {"message", "field"}
            assert detail["required"] == ["message"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launch_chromium() as launched:
        yield launched


@pytest.mark.parametrize("service", ROUTES)
def test_the_docs_page_works_in_a_browser_without_leaving_the_platform(
    platform: Platform, browser: Browser, service: str
) -> None:
    context = browser.new_context()
    outside: list[str] = []
    problems: list[str] = []

    def only_the_platform(route: Route, request: Request) -> None:
        if request.url.startswith((platform.url, "data:")):
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    try:
        context.route("**/*", only_the_platform)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("requestfailed", lambda r: problems.append(f"failed {r.url} {r.failure}"))
        page.goto(f"{platform.url}{PREFIXES[service]}/docs")
        expect(page.locator(".opblock")).to_have_count(len(ROUTES[service]), timeout=15_000)
        for method, path in ROUTES[service]:
            expect(page.locator(f".opblock-{method} [data-path='{path}']")).to_be_visible()
    finally:
        context.close()
    assert outside == []
    assert problems == []


def durable_consumers(platform: Platform) -> set[tuple[str, str]]:
    """The durable consumers of the stream, as (name, subject), asked of the NATS server (on
    a thread of its own: the browser tests' Playwright holds this thread's event loop)."""

    async def ask() -> set[tuple[str, str]]:
        nc = await nats.connect(platform.nats.url)
        try:
            consumers = await nc.jetstream().consumers_info(STREAM_NAME)
        finally:
            await nc.close()
        return {
            (info.config.durable_name, info.config.filter_subject or "")
            for info in consumers
            if info.config.durable_name
        }

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, ask()).result()


def documented_receivers() -> set[tuple[str, str]]:
    """The receive operations of docs/asyncapi.yaml, as (durable consumer, subject)."""
    document = yaml.safe_load(ASYNCAPI_FILE.read_text())
    receivers = set()
    for operation in document["operations"].values():
        if operation["action"] == "receive":
            channel = operation["channel"]["$ref"].rsplit("/", 1)[1]
            address = document["channels"][channel]["address"]
            receivers.add((operation["x-durable-consumer"], address))
    return receivers


def test_the_asyncapi_receivers_are_the_consumers_on_jetstream(platform: Platform) -> None:
    expected = documented_receivers()
    # The listeners of tickets (3), orders (4), payments (3), expiration. The client's live
    # pages watch the stream through ordered consumers, which are not durable.
    assert len(expected) == 11
    # Listeners subscribe just after their service has started.
    eventually(lambda: durable_consumers(platform) == expected, timeout=30, interval=0.5)
    assert durable_consumers(platform) == expected
