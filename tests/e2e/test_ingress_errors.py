"""Errors the ingress (`make dev`'s nginx) produces itself are JSON in the API's error shape
under /api/ (a small HTML page elsewhere), while the services' own error answers pass
through it untouched. Also: a service or the database down, seen through the ingress."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from devstack.platform import Platform
from devstack.testing import Visitor
from testsupport.servers import eventually

pytestmark = pytest.mark.integration

NewUser = Callable[[], Visitor]


def assert_error_shape(response: httpx.Response, status: int) -> str:
    """The contract's error shape with `status`; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json", response.headers
    [error] = response.json()["errors"]
    assert set(error) == {"message"}
    assert error["message"]
    return str(error["message"])


def raw_exchange(platform: Platform, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would send; the status, headers and body of the answer."""
    address = urlsplit(platform.url)
    with socket.create_connection(("127.0.0.1", address.port or 80), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.strip().lower(): value.strip()
        for name, _, value in (line.partition(":") for line in header_lines)
    }
    return int(status_line.split()[1]), headers, body


def test_a_body_over_1_mb_is_413_in_the_error_shape(platform: Platform, user: NewUser) -> None:
    seller = user()
    title = "x" * (1024 * 1024 + 1)
    response = seller.post("/api/tickets", json={"title": title, "price": 10})
    assert "1 MB" in assert_error_shape(response, 413)


def test_trace_is_405_in_the_error_shape(platform: Platform) -> None:
    response = httpx.request("TRACE", f"{platform.url}/api/tickets")
    assert_error_shape(response, 405)


def test_outside_the_api_the_ingress_answers_a_page(platform: Platform) -> None:
    response = httpx.request("TRACE", f"{platform.url}/tickets/new")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /api/tickets HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # two Host headers
        b"GET /api/tickets HTTP/1.1\r\nHost: a\r\nThis is not a header\r\n\r\n",
        b"GET /api/tickets/%00 HTTP/1.1\r\nHost: a\r\n\r\n",  # an invalid URI
        b"POST /api/tickets HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"NONSENSE\r\n\r\n",  # not even a request line: no path, so JSON as well
    ],
    ids=["duplicate-host", "bad-header", "bad-uri", "bad-chunked-body", "bad-request-line"],
)
def test_a_malformed_request_is_400_in_the_error_shape(
    platform: Platform, request_bytes: bytes
) -> None:
    status, headers, body = raw_exchange(platform, request_bytes)
    assert status == 400
    assert headers["content-type"] == "application/json"
    [error] = httpx.Response(400, content=body).json()["errors"]
    assert error["message"]


def test_the_services_own_errors_pass_through_unchanged(platform: Platform, user: NewUser) -> None:
    seller = user()
    tickets = platform.service("tickets").base_url
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in seller.http.cookies.items())}
    for method, path, body in [
        ("POST", "/api/tickets", {"title": "", "price": -1}),  # 400, one entry per field
        ("GET", "/api/tickets/0123456789abcdef01234567", None),  # 404
        ("PUT", "/api/tickets/0123456789abcdef01234567", {"title": "a", "price": 1}),
    ]:
        through_ingress = seller.http.request(method, path, json=body)
        direct = httpx.request(method, f"{tickets}{path}", json=body, headers=cookie)
        assert through_ingress.status_code == direct.status_code >= 400, direct.text
        assert through_ingress.json() == direct.json()
    fields = {e["field"] for e in seller.post("/api/tickets", json={}).json()["errors"]}
    assert fields == {"title", "price"}

    signed_out = httpx.post(f"{platform.url}/api/tickets", json={"title": "a", "price": 1})
    assert signed_out.status_code == 401
    assert signed_out.json() == {"errors": [{"message": "Not authorized"}]}


@pytest.fixture
def payments_stopped(platform: Platform) -> Iterator[None]:
    service = platform.service("payments")
    service.stop()
    yield
    service.start()
    platform.wait_services_ready(names=["payments"])


def test_a_stopped_service_is_502_in_the_error_shape_at_once(
    platform: Platform, user: NewUser, payments_stopped: None
) -> None:
    buyer = user()
    started = time.monotonic()
    response = buyer.post("/api/payments", json={"token": "tok_visa", "orderId": "x" * 24})
    assert time.monotonic() - started < 3
    assert "unavailable" in assert_error_shape(response, 502)


def test_the_database_paused_is_the_services_own_503_through_the_ingress(
    platform: Platform, user: NewUser
) -> None:
    visitor = user()
    ticket = visitor.create_ticket("Listed through a pause", 12)
    assert platform.mongo is not None
    mongo = platform.mongo.process
    assert mongo is not None
    os.kill(mongo.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        response = visitor.get(f"/api/tickets/{ticket['id']}")
        elapsed = time.monotonic() - started
        # The service's own message, not the ingress's: upstream answers are not replaced.
        assert assert_error_shape(response, 503).startswith("The database is unavailable")
        assert elapsed < 3, f"{elapsed:.1f}s"
    finally:
        os.kill(mongo.pid, signal.SIGCONT)

    def served() -> bool:
        response = visitor.get(f"/api/tickets/{ticket['id']}")
        assert response.status_code == 200, response.text
        return True

    eventually(served, 20, interval=0.5)
    platform.wait_services_ready()
