"""The platform for end-to-end and browser tests, and a visitor that drives it over HTTP.

A test module's `conftest.py` imports the `platform` fixture from here. The platform starts
once per test session on free ports in a temporary directory, with a short reservation
window so that expiry can be watched; tests reach it only through `platform.url` (nginx),
and use `platform.service(name)` / `platform.nats` to inject faults.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.platform import Platform, Ports, Settings, StartError

EXPIRATION_WINDOW_SECONDS = 6
"""Reservation length in the tests (the contract's default is 15 minutes)."""

TEST_JWT_KEY = "e2e-jwt-key"
DECLINED_CARD = "tok_chargeDeclined"
"""A Stripe test token whose charge is always declined: a payment probe that cannot charge."""
PASSWORD = "pass1234"


def make_test_platform(data_dir: Path) -> Platform:
    return Platform(
        Settings(
            data_dir=data_dir,
            ports=Ports.free(),
            expiration_window_seconds=EXPIRATION_WINDOW_SECONDS,
            jwt_key=TEST_JWT_KEY,
        )
    )


def started(platform: Platform, ready_timeout: float = 60.0) -> Iterator[Platform]:
    """A fixture's body: `platform` started (the test fails with the log of a component that
    did not start), then stopped when the fixture ends."""
    failure = None
    try:
        platform.start(ready_timeout=ready_timeout)
    except StartError as error:
        failure = f"{error}\n--- {error.log_path} ---\n{error.log_tail}"
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The whole platform, started once for the session (it costs seconds)."""
    yield from started(make_test_platform(tmp_path_factory.mktemp("platform")))


class Visitor:
    """One person with a browser: a cookie jar, talking JSON to the ingress."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=15)
        self.id: str | None = None
        self.email: str | None = None

    def signup(self, email: str | None = None, password: str = PASSWORD) -> Visitor:
        email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
        response = self.post("/api/users/signup", json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        self.id, self.email = response.json()["id"], email
        return self

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.put(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.delete(path, **kwargs)

    def create_ticket(self, title: str, price: float) -> dict[str, Any]:
        response = self.post("/api/tickets", json={"title": title, "price": price})
        assert response.status_code == 201, response.text
        ticket: dict[str, Any] = response.json()
        return ticket

    def order(self, ticket_id: str, timeout: float = 20.0) -> httpx.Response:
        """Order a ticket, as a visitor clicking Purchase again while it answers 404: the
        ticket reaches orders through an event, a moment after tickets has it."""
        return self._retry_not_found("/api/orders", {"ticketId": ticket_id}, timeout)

    def pay(self, order_id: str, token: str = "tok_visa", timeout: float = 20.0) -> httpx.Response:
        """Pay for an order, again while payments does not know it yet (404)."""
        return self._retry_not_found(
            "/api/payments", {"token": token, "orderId": order_id}, timeout
        )

    def wait_payment_refused(self, order_id: str, message: str, timeout: float = 20.0) -> None:
        """Wait until payments refuses to charge `order_id` with `message`, asking with a card
        that is always declined, so that no answer of payments can charge anything meanwhile.

        Payments learns of an order's fate from events, a moment after orders: paying with a
        real card in that moment would charge a cancelled order."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.post(
                "/api/payments", json={"token": DECLINED_CARD, "orderId": order_id}
            )
            errors = response.json().get("errors", [{}]) if response.status_code == 400 else []
            if errors and errors[0].get("message") == message:
                return
            assert time.monotonic() < deadline, f"{response.status_code} {response.text}"
            time.sleep(0.3)

    def _retry_not_found(self, path: str, body: dict[str, str], timeout: float) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while True:
            response = self.post(path, json=body)
            if response.status_code != 404 or time.monotonic() > deadline:
                return response
            time.sleep(0.2)

    def close(self) -> None:
        self.http.close()
