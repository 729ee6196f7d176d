"""Logs and metrics of a purchase, as production writes them. Logs: one JSON object per line
with the service and the level (and the request id, trace id, event id and subject where they
exist), and never a secret. A user signs up, signs in (also with a wrong password), sells,
orders and pays through the services as processes, every one of them logging at DEBUG and
exporting its spans; then the metrics are scraped and every log line is read."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from common.session import COOKIE_NAME
from devstack.platform import StripeStandIn
from testsupport.servers import RedisServer, ServiceProcess
from testsupport.steps import pay, reserve, sell

pytestmark = pytest.mark.integration

PASSWORD = "correct-horse-9"  # the secret the test looks for
WRONG_PASSWORD = "wrong-horse-7"
STRIPE_KEY = "sk_test_logsecret4242"
REQUEST_ID = "req-logs-0001"


class OtlpReceiver:
    """A trace collector on loopback: keeps what services export to it (OTLP over HTTP)."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(ExportTraceServiceRequest.FromString(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def exporters(self) -> set[str]:
        """The `service.name` of every process that exported spans."""
        return {
            attribute.value.string_value
            for request in self.requests
            for spans in request.resource_spans
            for attribute in spans.resource.attributes
            if attribute.key == "service.name"
        }

    def trace_ids(self) -> set[str]:
        return {
            span.trace_id.hex()
            for request in self.requests
            for spans in request.resource_spans
            for scope in spans.scope_spans
            for span in scope.spans
        }


@pytest.fixture
def collector() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    yield receiver
    receiver.server.shutdown()


def log_lines(service: ServiceProcess) -> list[dict[str, Any]]:
    """Every line `service` wrote, each parsed as JSON (fails on a line that is not)."""
    lines = service.log_path.read_text().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"{service.name} wrote a line that is not JSON: {line!r}")
    return parsed


def metric(service: ServiceProcess, sample: str) -> float:
    """One sample of `service`'s /metrics (0 when absent)."""
    for line in httpx.get(f"{service.base_url}/metrics", timeout=10).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_purchase_is_logged_in_json_lines_without_secrets_and_counted(
    start_service: Callable[..., ServiceProcess],
    redis_server: RedisServer,
    stripe_standin: StripeStandIn,
    collector: OtlpReceiver,
) -> None:
    # Traced as in production (OTEL_* variables): log lines carry the trace ids.
    debug = {
        "LOG_LEVEL": "DEBUG",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    services = {
        "auth": start_service("auth", debug, wait_ready=False),
        "tickets": start_service("tickets", debug, wait_ready=False),
        "orders": start_service("orders", debug, wait_ready=False),
        "payments": start_service(
            "payments",
            {**debug, "STRIPE_KEY": STRIPE_KEY, "STRIPE_API_BASE": stripe_standin.url},
            wait_ready=False,
        ),
    }
    for service in services.values():
        service.wait_ready(timeout=60)
    clients = {name: httpx.Client(base_url=s.base_url, timeout=20) for name, s in services.items()}
    credentials = {"email": "logs@test.com", "password": PASSWORD}

    signed_up = clients["auth"].post("/api/users/signup", json=credentials)
    assert signed_up.status_code == 201, signed_up.text
    refused = clients["auth"].post(
        "/api/users/signin", json={**credentials, "password": WRONG_PASSWORD}
    )
    assert refused.status_code == 400
    signed_in = clients["auth"].post(
        "/api/users/signin", json=credentials, headers={"X-Request-ID": REQUEST_ID}
    )
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.cookies[COOKIE_NAME]
    headers = {"Cookie": f"{COOKIE_NAME}={token}", "X-Request-ID": REQUEST_ID}

    ticket_id = sell(clients["tickets"], headers, 25)
    order = reserve(clients["orders"], headers, ticket_id)
    paid = pay(clients["payments"], headers, order["id"])
    assert paid.status_code == 201, paid.text

    # Counted where it happened: the charge at Stripe, the events published and handled.
    charged = 'ticketing_stripe_calls_total{operation="charge",outcome="ok"}'
    assert metric(services["payments"], charged) == 1
    assert (
        metric(
            services["payments"], 'ticketing_stripe_call_duration_seconds_count{operation="charge"}'
        )
        == 1
    )
    published = 'ticketing_events_published_total{service="orders",subject="order:created"}'
    assert metric(services["orders"], published) == 1
    applied = 'ticketing_events_handled_total{service="tickets",subject="order:created"}'
    assert metric(services["tickets"], applied) == 1
    route = (
        'ticketing_http_requests_total{method="POST",route="/api/payments",'
        'service="payments",status="201"}'
    )
    assert metric(services["payments"], route) == 1

    for client in clients.values():
        client.close()
    for service in services.values():
        service.stop()

    secrets = [PASSWORD, WRONG_PASSWORD, token, token.split(".")[-1], STRIPE_KEY]
    for name, service in services.items():
        lines = log_lines(service)
        assert lines, f"{name} logged nothing"
        text = service.log_path.read_text()
        for secret in secrets:
            assert secret not in text, f"{name} logged a secret: {secret[:12]}..."
        assert all(line["service"] == name and line["level"] for line in lines)
    requests = [
        line
        for line in log_lines(services["payments"])
        if line.get("request_id") == REQUEST_ID and line.get("trace_id")
    ]
    assert requests, "no payments line names the request and its trace"
    handled = [
        line
        for line in log_lines(services["tickets"])
        if line.get("subject") == "order:created" and line.get("event_id")
    ]
    assert handled, "no tickets line names the event it handles"
    # Each process exported its spans, and the lines' trace ids are those of exported spans.
    assert collector.exporters() == set(services)
    assert {line["trace_id"] for line in requests + handled} <= collector.trace_ids()
