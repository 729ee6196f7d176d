"""What every service exports about itself: `/metrics` (HTTP requests by route template,
events handled, failed, redelivered and set aside), and log lines (JSON or readable, with the
request id, trace id, event id and subject; secrets masked whatever the code logs)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from fastapi import APIRouter
from prometheus_client.parser import text_string_to_metric_families

from common.errors import NotFoundError
from common.events.listener import Listener, Message
from common.events.schemas import TicketCreated
from common.events.subjects import Subjects
from common.observability.logs import configure_logging, event_context, mask
from common.observability.tracing import exporters_wanted
from common.service import ServiceSpec, no_dependencies
from common.settings import ProcessSettings
from testsupport.apps import serving
from testsupport.doubles import FakeMsg

things = APIRouter()


@things.get("/{thing_id}")
async def read_thing(thing_id: str) -> dict[str, str]:
    logging.getLogger("things").info("reading thing %s", thing_id)
    return {"id": thing_id}


@things.post("", status_code=201)
async def add_thing() -> dict[str, str]:
    return {"id": "new"}


router = APIRouter()  # as the services do: one router per route, included under a prefix
router.include_router(things, prefix="/api/things")


SPEC: ServiceSpec[ProcessSettings, None] = ServiceSpec(
    name="things", settings=ProcessSettings, dependencies=no_dependencies, routers=[router]
)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_by_route_template_method_and_status() -> None:
    async with serving(SPEC.create_app(ProcessSettings())) as http:
        before = (await http.get("/metrics")).text
        for thing in ("a", "b", "c"):
            assert (await http.get(f"/api/things/{thing}")).status_code == 200
        assert (await http.get("/nowhere/42")).status_code == 404
        assert (await http.post("/api/things")).status_code == 201
        scraped = await http.get("/metrics")

    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    route = {"service": "things", "route": "/api/things/{thing_id}", "method": "GET"}
    counted = "ticketing_http_requests_total"
    assert (
        value(text, counted, **route, status="200") - value(before, counted, **route, status="200")
        == 3
    )
    assert value(text, counted, service="things", route="unmatched", method="GET", status="404")
    posted = {"service": "things", "route": "/api/things", "method": "POST", "status": "201"}
    assert value(text, counted, **posted) == 1
    assert value(text, "ticketing_http_request_duration_seconds_count", **route) >= 3
    assert "/api/things/a" not in text  # never the raw path: one series per route


async def test_metrics_keep_each_status_and_method_of_a_route_apart() -> None:
    """A route's series are kept per (route, method, status): answers of one route with
    several statuses, methods and paths, interleaved, each count where they belong."""
    parts = APIRouter()

    @parts.api_route("/{part_id}", methods=["GET", "DELETE"])
    async def part(part_id: str) -> dict[str, str]:
        if part_id == "missing":
            raise NotFoundError()
        return {"id": part_id}

    routed = APIRouter()
    routed.include_router(parts, prefix="/api/parts")
    spec: ServiceSpec[ProcessSettings, None] = ServiceSpec(
        name="parts", settings=ProcessSettings, dependencies=no_dependencies, routers=[routed]
    )
    async with serving(spec.create_app(ProcessSettings())) as http:
        for path, method, status in [
            ("/api/parts/a", "GET", 200),
            ("/api/parts/missing", "GET", 404),
            ("/api/parts/b", "GET", 200),
            ("/api/parts/missing", "DELETE", 404),
            ("/api/parts/c", "DELETE", 200),
            ("/api/parts/d", "GET", 200),
            ("/api/nothing", "GET", 404),
        ]:
            assert (await http.request(method, path)).status_code == status
        text = (await http.get("/metrics")).text

    route = {"service": "parts", "route": "/api/parts/{part_id}"}
    counted = "ticketing_http_requests_total"
    assert value(text, counted, **route, method="GET", status="200") == 3
    assert value(text, counted, **route, method="GET", status="404") == 1
    assert value(text, counted, **route, method="DELETE", status="404") == 1
    assert value(text, counted, **route, method="DELETE", status="200") == 1
    assert value(text, counted, service="parts", route="unmatched", method="GET", status="404")
    timed = "ticketing_http_request_duration_seconds_count"
    assert value(text, timed, **route, method="GET") == 4
    assert value(text, timed, **route, method="DELETE") == 2


class ThingListener(Listener[TicketCreated]):
    subject = Subjects.TICKET_CREATED
    queue_group = "observed-service"
    event_model = TicketCreated
    max_deliver = 3
    fail = False

    async def on_message(self, data: TicketCreated, msg: Message) -> None:
        if self.fail:
            raise RuntimeError("handler broke")


def event_counts(service: str = "observed") -> dict[str, float]:
    from prometheus_client import REGISTRY, generate_latest

    text = generate_latest(REGISTRY).decode()
    labels = {"service": service, "subject": "ticket:created"}
    return {
        name: value(text, f"ticketing_events_{name}_total", **labels)
        for name in ("handled", "failed", "redelivered")
    } | {
        "invalid": value(text, "ticketing_events_dead_lettered_total", **labels, reason="invalid"),
        "deliveries": value(
            text, "ticketing_events_dead_lettered_total", **labels, reason="deliveries"
        ),
    }


async def test_listener_counts_handled_failed_redelivered_and_set_aside_events() -> None:
    event = TicketCreated(id="t1", version=0, title="gig", price=5, user_id="u")
    listener = ThingListener()
    before = event_counts()

    await listener.handle(FakeMsg.of(event))
    listener.fail = True
    await listener.handle(FakeMsg.of(event, delivered=2))
    last = FakeMsg.of(event, delivered=3)
    await listener.handle(last)
    invalid = FakeMsg.of(b'{"id": 1}')
    await listener.handle(invalid)

    after = event_counts()
    assert {name: after[name] - before[name] for name in after} == {
        "handled": 1,
        "failed": 2,
        "redelivered": 2,
        "invalid": 1,
        "deliveries": 1,
    }
    assert last.termed
    assert invalid.termed


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """The process's log lines, as `configure_logging` writes them, while the test runs."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_log_lines_are_json_with_service_level_request_and_event(
    log_output: io.StringIO,
) -> None:
    configure_logging("things", "INFO", "json", stream=log_output)
    async with serving(SPEC.create_app(ProcessSettings())) as http:
        response = await http.get("/api/things/x1", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 200
    with event_context("ticket:created", "event-9"):
        logging.getLogger("listener").warning("handled")

    logged = lines(log_output)
    (request_line,) = [line for line in logged if line["event"] == "reading thing x1"]
    assert request_line["service"] == "things"
    assert request_line["level"] == "info"
    assert request_line["request_id"] == "req-123"
    (event_line,) = [line for line in logged if line["event"] == "handled"]
    assert event_line["subject"] == "ticket:created"
    assert event_line["event_id"] == "event-9"
    assert event_line["level"] == "warning"
    assert "request_id" not in event_line


def test_secrets_are_masked_in_whatever_is_logged(log_output: io.StringIO) -> None:
    configure_logging("things", "DEBUG", "json", stream=log_output)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6IjEifQ.c2lnbmF0dXJl"
    log = logging.getLogger("careless")
    log.info("cookie header: session=%s; theme=dark", jwt)
    log.info("body %s", {"email": "a@b.c", "password": "hunter22"})
    log.error("stripe said no for key sk_live_51Habcdef0123")
    structlog.get_logger("structured").info("signed in", password="hunter22", token=jwt)

    text = log_output.getvalue()
    for secret in (jwt, "hunter22", "sk_live_51Habcdef0123", "c2lnbmF0dXJl"):
        assert secret not in text
    assert len(lines(log_output)) == 4
    assert (
        mask("price 20, order 5e11e75e11e75e11e75e11e7")
        == "price 20, order 5e11e75e11e75e11e75e11e7"
    )


def test_console_format_is_readable_lines(log_output: io.StringIO) -> None:
    configure_logging("things", "INFO", "console", stream=log_output)
    logging.getLogger("things").info("hello %s", "there")
    (line,) = log_output.getvalue().splitlines()
    assert "hello there" in line
    assert "info" in line
    assert not line.startswith("{")


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_ask(
    env: dict[str, str], wanted: list[str]
) -> None:
    assert exporters_wanted(env) == wanted
