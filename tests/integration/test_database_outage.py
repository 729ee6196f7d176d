"""The database goes away under running services, and comes back.

Every Mongo-backed service answers 503 in the error shape within 3 s while its database is
killed or paused (a paused server accepts connections but never answers), `/readyz` says
503 meanwhile, and everything works again once the database is back: no service restarts.
The services, NATS and the Mongo stand-in are real processes; the faults are real signals.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.events.publisher import JetStreamPublisher
from common.events.stream import connect_nats
from testsupport.events import order_created
from testsupport.servers import (
    MongoStandIn,
    NatsServer,
    ServiceProcess,
    eventually,
    mongo_stand_in_of_its_own,
)
from testsupport.steps import sell
from tickets.listing import LIST_MAX_AGE_SECONDS

pytestmark = pytest.mark.integration

StartService = Callable[..., ServiceProcess]
Headers = Callable[..., dict[str, str]]

ANSWER_WITHIN = 3.0
"""The contract's bound on an answer while a dependency is unavailable (section 3)."""
RECOVERY = 20.0
"""Seconds the services may take to use the database again once it is back."""


@pytest.fixture
def database(tmp_path: Path) -> Iterator[MongoStandIn]:
    """A Mongo stand-in of this test's own, to kill or pause."""
    with mongo_stand_in_of_its_own(tmp_path / "database") as server:
        yield server


@pytest.fixture
def mongo_server_url(database: MongoStandIn) -> str:
    """The services of these tests use `database` (overrides the session-wide server)."""
    return database.url


@dataclass
class Call:
    """One request to a service, and what it answers when the database is there."""

    service: str
    method: str
    path: str
    ok_status: int
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def send(self, http: httpx.Client) -> tuple[httpx.Response, float]:
        """The answer, and the seconds from sending the request to reading the answer."""
        started = time.monotonic()
        response = http.request(self.method, self.path, json=self.json, headers=self.headers)
        return response, time.monotonic() - started


def send_all(calls: list[Call], services: dict[str, ServiceProcess]) -> list[Any]:
    """All calls at once (they wait on the database together), each on a client of its own
    made beforehand, so that only the request itself is timed."""
    clients = [httpx.Client(base_url=services[call.service].base_url, timeout=30) for call in calls]
    try:
        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(Call.send, calls, clients))
    finally:
        for client in clients:
            client.close()


def assert_unavailable_fast(calls: list[Call], services: dict[str, ServiceProcess]) -> None:
    readiness = [Call(name, "GET", "/readyz", 200) for name in services]
    for call, (response, elapsed) in zip(
        calls + readiness, send_all(calls + readiness, services), strict=True
    ):
        where = f"{call.service} {call.method} {call.path}"
        assert response.status_code == 503, f"{where}: {response.status_code} {response.text}"
        assert elapsed < ANSWER_WITHIN, f"{where} took {elapsed:.2f}s"
        print(f"{where}: 503 in {elapsed:.2f}s")
        if call.path != "/readyz":
            assert response.headers["content-type"] == "application/json", where
            [error] = response.json()["errors"]
            assert error["message"], where
            assert set(error) == {"message"}, where


def assert_served_again(calls: list[Call], services: dict[str, ServiceProcess]) -> None:
    def all_ok() -> bool:
        for call, (response, _) in zip(calls, send_all(calls, services), strict=True):
            assert response.status_code == call.ok_status, (
                f"{call.service} {call.method} {call.path}: {response.status_code} {response.text}"
            )
        return True

    eventually(all_ok, RECOVERY, interval=0.5)
    for service in services.values():
        assert httpx.get(f"{service.base_url}/readyz", timeout=5).status_code == 200


def service_pid(service: ServiceProcess) -> int:
    assert service.process is not None
    return service.process.pid


def a_user_and_a_ticket(
    services: dict[str, ServiceProcess], user: dict[str, str], title: str
) -> tuple[dict[str, str], str]:
    """A user signed up with auth (their credentials), and a ticket of `user`'s listed with
    tickets (its id)."""
    credentials = {"email": f"{uuid.uuid4().hex[:10]}@test.com", "password": "secret1"}
    response = httpx.post(f"{services['auth'].base_url}/api/users/signup", json=credentials)
    assert response.status_code == 201, response.text
    with httpx.Client(base_url=services["tickets"].base_url) as tickets:
        return credentials, sell(tickets, user, 25, title=title)


def test_database_killed_each_service_answers_503_fast_and_recovers_without_restart(
    start_service: StartService, database: MongoStandIn, auth: Headers
) -> None:
    services = {
        "auth": start_service("auth"),
        "tickets": start_service("tickets"),
        "orders": start_service("orders"),
        "payments": start_service("payments", {"STRIPE_KEY": "sk_test_unused"}),
    }
    pids = {name: service_pid(service) for name, service in services.items()}
    user = auth()
    credentials, ticket_id = a_user_and_a_ticket(services, user, "Seen through an outage")
    calls = [
        Call("auth", "POST", "/api/users/signin", 200, credentials),
        Call("tickets", "GET", f"/api/tickets/{ticket_id}", 200),
        Call("tickets", "GET", "/api/tickets", 200),
        Call("tickets", "POST", "/api/tickets", 201, {"title": "New", "price": 5}, user),
        Call("orders", "GET", "/api/orders", 200, headers=user),
        Call(
            "payments",
            "POST",
            "/api/payments",
            404,  # no such order: payments had to ask its database to say so
            {"token": "tok_visa", "orderId": "0123456789abcdef01234567"},
            user,
        ),
    ]
    assert_served_again(calls, services)

    database.kill()  # SIGKILL
    time.sleep(LIST_MAX_AGE_SECONDS)  # the catalogue's window (as below)
    assert_unavailable_fast(calls, services)

    database.start()  # the same port and data dir
    assert_served_again(calls, services)
    for name, service in services.items():
        assert service.running, name
        assert service_pid(service) == pids[name], f"{name} was restarted"
    ticket = httpx.get(f"{services['tickets'].base_url}/api/tickets/{ticket_id}").json()
    assert ticket["title"] == "Seen through an outage"


async def publish_order_created(nats_url: str, ticket_id: str) -> str:
    """Publish order:created for `ticket_id`, as orders would; returns the order id."""
    nc = await connect_nats(nats_url, "outage-test")
    try:
        order_id = uuid.uuid4().hex[:24]
        event = order_created(order_id=order_id, ticket_id=ticket_id, price=25)
        await JetStreamPublisher(nc, nc.jetstream()).publish(
            event.subject, event.to_wire(), msg_id=f"outage-{order_id}"
        )
        return order_id
    finally:
        await nc.close()


def test_database_paused_requests_are_bounded_and_events_wait_for_it(
    start_service: StartService,
    database: MongoStandIn,
    nats_server: NatsServer,
    auth: Headers,
) -> None:
    services = {"auth": start_service("auth"), "tickets": start_service("tickets")}
    user = auth()
    credentials, ticket_id = a_user_and_a_ticket(
        services, user, "Reserved while the database sleeps"
    )
    calls = [
        Call("auth", "POST", "/api/users/signin", 200, credentials),
        Call("auth", "POST", "/api/users/signup", 400, credentials),  # email in use
        Call("tickets", "GET", f"/api/tickets/{ticket_id}", 200),
        Call("tickets", "GET", "/api/tickets", 200),
        Call("tickets", "POST", "/api/tickets", 201, {"title": "New", "price": 5}, user),
        Call("tickets", "PUT", f"/api/tickets/{ticket_id}", 200, {"title": "T", "price": 9}, user),
    ]
    assert_served_again(calls[:4], services)  # (not the writes: they would change the ticket)

    assert database.process is not None
    os.kill(database.process.pid, signal.SIGSTOP)  # accepts connections, never answers
    # The unpaged list read just before is still a right answer for its window (the list
    # shared for half a second, tickets.listing): from then on the list needs the database.
    time.sleep(LIST_MAX_AGE_SECONDS)
    try:
        # Twice as many requests as calls, all waiting on the paused server at once.
        assert_unavailable_fast(calls + calls, services)
        # An event arrives while the database cannot store its effect.
        order_id = asyncio.run(publish_order_created(nats_server.url, ticket_id))
        time.sleep(3)  # the listener meets the paused database, more than once
        assert_unavailable_fast(calls[:1], services)
    finally:
        os.kill(database.process.pid, signal.SIGCONT)

    def reserved() -> bool:
        response = httpx.get(f"{services['tickets'].base_url}/api/tickets/{ticket_id}")
        assert response.status_code == 200, response.text
        assert response.json().get("orderId") == order_id, response.json()
        return True

    eventually(reserved, RECOVERY, interval=0.5)
    calls[-1].ok_status = 400  # reserved now: "Cannot edit a reserved ticket"
    assert_served_again(calls, services)
