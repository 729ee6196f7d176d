"""Signing out revokes the session in every service, across replicas, as processes: auth and
tickets replicas (`python -m ...`) on real NATS, sharing revocations through JetStream."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from testsupport.servers import NatsServer, ServiceProcess, eventually

pytestmark = pytest.mark.integration

StartService = Callable[..., ServiceProcess]
TICKET = {"title": "Concert", "price": 20}


def create_ticket(replica: ServiceProcess, cookie: str) -> int:
    response = httpx.post(
        f"{replica.base_url}/api/tickets", json=TICKET, headers={"Cookie": cookie}, timeout=5
    )
    return response.status_code


def sign_up(auth: ServiceProcess, email: str) -> str:
    """A new user's `Cookie` header."""
    response = httpx.post(
        f"{auth.base_url}/api/users/signup", json={"email": email, "password": "password"}
    )
    assert response.status_code == 201, response.text
    return f"session={response.cookies['session']}"


def sign_out(auth: ServiceProcess, cookie: str) -> None:
    response = httpx.post(f"{auth.base_url}/api/users/signout", headers={"Cookie": cookie})
    assert response.status_code == 200, response.text
    assert response.json() == {}


def current_user(auth: ServiceProcess, cookie: str) -> object:
    response = httpx.get(f"{auth.base_url}/api/users/currentuser", headers={"Cookie": cookie})
    return response.json()["currentUser"]


def database_of(service: ServiceProcess) -> dict[str, str]:
    """The variables that give another replica the same database."""
    assert service.env is not None
    return {"MONGO_URI": service.env["MONGO_URI"]}


def start_tickets_replicas(start_service: StartService, count: int) -> list[ServiceProcess]:
    first = start_service("tickets")
    return [first, *(start_service("tickets", database_of(first)) for _ in range(count - 1))]


def test_a_signed_out_session_is_refused_by_every_replica_within_two_seconds(
    start_service: StartService,
) -> None:
    auth = start_service("auth")
    replicas = start_tickets_replicas(start_service, 2)
    cookie = sign_up(auth, "leaving@test.com")
    other_session = sign_up(auth, "staying@test.com")
    assert [create_ticket(replica, cookie) for replica in replicas] == [201, 201]

    sign_out(auth, cookie)
    signed_out_at = time.monotonic()
    pending = list(replicas)
    while pending:
        pending = [replica for replica in pending if create_ticket(replica, cookie) != 401]
        elapsed = time.monotonic() - signed_out_at
        assert elapsed < 2.0 or not pending, f"still accepted {elapsed:.1f}s after sign-out"
    assert current_user(auth, cookie) is None

    # A replica started after the sign-out refuses the token as well.
    late = start_service("tickets", database_of(replicas[0]))
    assert create_ticket(late, cookie) == 401
    # Other sessions are untouched.
    assert [create_ticket(r, other_session) for r in (*replicas, late)] == [201, 201, 201]


def test_a_sign_out_while_nats_is_down_takes_effect_once_it_is_back(
    start_service: StartService, nats_server: NatsServer
) -> None:
    auth = start_service("auth")
    [tickets] = start_tickets_replicas(start_service, 1)
    cookie = sign_up(auth, "outage@test.com")
    assert create_ticket(tickets, cookie) == 201

    nats_server.stop()
    sign_out(auth, cookie)  # stored by auth, published when NATS is back
    assert current_user(auth, cookie) is None
    nats_server.start()
    eventually(lambda: create_ticket(tickets, cookie) == 401, timeout=20)
