"""Passwords are hashed with argon2id at OWASP's minimum cost, old hashes are upgraded on
sign-in, nothing is hashed for a client that has gone, and hashes wait their turn without
holding worker threads."""

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from anyio import to_thread
from argon2 import PasswordHasher
from fastapi import FastAPI
from starlette.types import Message

from auth import passwords
from auth.models import SigninSlot, User
from testsupport.plugin import stored
from testsupport.servers import wait_until

CURRENT_PARAMETERS = "$argon2id$v=19$m=19456,t=2,p=1$"
OLD_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4)
"""The parameters passwords were hashed with before (the library's defaults)."""


class RecordingHasher:
    """The real hasher, recording every password it is given to hash or check."""

    def __init__(self, real: PasswordHasher, delay: float = 0.0) -> None:
        self.real = real
        self.delay = delay
        self.seen: list[str] = []
        self.running = 0
        self.most_running = 0
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()

    def _enter(self, password: str) -> None:
        with self._lock:
            self.seen.append(password)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        self.release.wait(10)
        time.sleep(self.delay)

    def _leave(self) -> None:
        with self._lock:
            self.running -= 1

    def hash(self, password: str) -> str:
        self._enter(password)
        try:
            return self.real.hash(password)
        finally:
            self._leave()

    def verify(self, stored_hash: str, password: str) -> bool:
        self._enter(password)
        try:
            return self.real.verify(stored_hash, password)
        finally:
            self._leave()

    def check_needs_rehash(self, stored_hash: str) -> bool:
        return self.real.check_needs_rehash(stored_hash)


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> RecordingHasher:
    recording = RecordingHasher(passwords._hasher)
    monkeypatch.setattr(passwords, "_hasher", recording)
    return recording


async def signin(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/users/signin", json={"email": email, "password": password})


Receive = Callable[[], Awaitable[Message]]


async def call(app: FastAPI, path: str, body: dict[str, str], receive_after_body: Receive) -> int:
    """POST `body` to `path` straight through ASGI, the client's later messages coming from
    `receive_after_body` (e.g. a disconnect); returns the status the app answered."""
    sent_body = False
    statuses: list[int] = []

    async def receive() -> Message:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}
        return await receive_after_body()

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test"), (b"content-type", b"application/json")],
        "client": ("198.51.100.7", 40000),
        "server": ("test", 80),
    }
    await app(scope, receive, send)
    return statuses[0]


async def disconnected() -> Message:
    return {"type": "http.disconnect"}


async def still_connected() -> Message:
    await asyncio.Event().wait()  # the client keeps waiting for the answer
    raise AssertionError("unreachable")


async def test_new_passwords_are_hashed_with_argon2id_at_owasp_minimum(
    client: httpx.AsyncClient, signup: Any
) -> None:
    user = (await signup()).json()
    assert (await stored(User, user["id"])).password.startswith(CURRENT_PARAMETERS)


async def test_signing_in_upgrades_a_hash_with_old_parameters(client: httpx.AsyncClient) -> None:
    old_hash = OLD_HASHER.hash("password")
    user = await User(email="old@test.com", password=old_hash).insert()

    response = await signin(client, "old@test.com", "password")

    assert response.status_code == 200
    upgraded = (await stored(User, user.id)).password
    assert upgraded.startswith(CURRENT_PARAMETERS)
    assert PasswordHasher().verify(upgraded, "password")
    # The upgraded hash signs in, and is kept as it is.
    assert (await signin(client, "old@test.com", "password")).status_code == 200
    assert (await stored(User, user.id)).password == upgraded


async def test_a_wrong_password_does_not_upgrade_an_old_hash(client: httpx.AsyncClient) -> None:
    old_hash = OLD_HASHER.hash("password")
    user = await User(email="old@test.com", password=old_hash).insert()

    assert (await signin(client, "old@test.com", "wrong")).status_code == 400
    assert (await stored(User, user.id)).password == old_hash


async def test_a_connected_client_is_answered(
    app: FastAPI, signup: Any, hasher: RecordingHasher
) -> None:
    """The direct ASGI calls below reach the app as a client would."""
    await signup(password="password")
    status = await call(
        app,
        "/api/users/signin",
        {"email": "test@test.com", "password": "password"},
        still_connected,
    )
    assert status == 200
    assert hasher.seen == ["password", "password"]


async def test_nothing_is_hashed_for_a_client_that_has_gone(
    app: FastAPI, signup: Any, hasher: RecordingHasher
) -> None:
    await signup(password="password")
    hasher.seen.clear()

    await call(
        app, "/api/users/signin", {"email": "test@test.com", "password": "gone"}, disconnected
    )
    await call(
        app, "/api/users/signup", {"email": "new@test.com", "password": "gone"}, disconnected
    )

    assert hasher.seen == []
    assert await User.find(User.email == "new@test.com").count() == 0
    # The abandoned sign-in holds no throttling slot and counts as no failure.
    assert await SigninSlot.find_all().count() == 0


async def test_a_client_that_leaves_while_waiting_for_its_turn_is_not_hashed_for(
    app: FastAPI,
    client: httpx.AsyncClient,
    signup: Any,
    hasher: RecordingHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "CONCURRENT_HASHES", 1)
    await signup(password="password")
    hasher.seen.clear()
    hasher.release.clear()  # the next hash holds the only slot until released
    first = asyncio.create_task(signin(client, "test@test.com", "password"))
    await wait_until(lambda: bool(hasher.seen))

    leaves = asyncio.Event()

    async def leaves_later() -> Message:
        await leaves.wait()
        return {"type": "http.disconnect"}

    waiting = asyncio.create_task(
        call(app, "/api/users/signin", {"email": "test@test.com", "password": "x"}, leaves_later)
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()  # waiting for the slot
    leaves.set()
    # It gives up while the slot is still taken, without hashing.
    await asyncio.wait_for(waiting, 5)
    assert not first.done()
    hasher.release.set()
    assert (await first).status_code == 200
    assert hasher.seen == ["password"]


async def test_hashes_wait_their_turn_without_holding_worker_threads(
    client: httpx.AsyncClient,
    signup: Any,
    hasher: RecordingHasher,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(passwords, "CONCURRENT_HASHES", 2)
    emails = [f"user{n}@test.com" for n in range(8)]
    for email in emails:
        await signup(email=email)
    hasher.release.clear()  # hashes hold their slots until released

    signins = [asyncio.create_task(signin(client, email, "password")) for email in emails]
    await wait_until(lambda: hasher.running == 2)
    slots = passwords.hashing_slots()
    await wait_until(lambda: len(slots._waiters or ()) == 6)  # the others wait for a slot
    await asyncio.sleep(0.1)
    busy_threads = to_thread.current_default_thread_limiter().borrowed_tokens
    hasher.release.set()
    responses = await asyncio.gather(*signins)

    assert [r.status_code for r in responses] == [200] * 8
    assert hasher.most_running == 2
    # The six requests waiting for a slot hold no worker thread: only the two hashing do.
    assert busy_threads == 2
