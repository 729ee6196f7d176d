"""Failed sign-ins are throttled: 5 per email, 20 per client address, in 15 minutes."""

import asyncio
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from auth import passwords
from auth.models import SigninSlot
from auth.settings import AuthSettings
from auth.throttle import address_key, email_key
from common.client_address import sign_visitor_address
from common.service import ServiceSpec
from testsupport.apps import serving
from testsupport.doubles import RecordingPublisher

INVALID = {"errors": [{"message": "Invalid credentials"}]}
THROTTLED = {"errors": [{"message": "Too many failed sign-ins; try again later"}]}
WINDOW_SECONDS = 15 * 60


async def signin(
    client: httpx.AsyncClient, email: str, password: str, address: str = "198.51.100.1"
) -> httpx.Response:
    """Sign in as a visitor at `address`, as the ingress reports it (`X-Real-IP`)."""
    return await client.post(
        "/api/users/signin",
        json={"email": email, "password": password},
        headers={"X-Real-IP": address},
    )


def assert_throttled(response: httpx.Response, at_most: int = WINDOW_SECONDS) -> int:
    assert response.status_code == 429, response.text
    assert response.json() == THROTTLED
    assert "set-cookie" not in response.headers
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= at_most
    return retry_after


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check that reaches argon2 (the supplied password of each)."""
    checked: list[str] = []
    lock = threading.Lock()
    real = passwords._hasher

    class RecordingHasher:
        def hash(self, password: str) -> str:
            return real.hash(password)

        def verify(self, stored: str, supplied: str) -> bool:
            with lock:
                checked.append(supplied)
            return real.verify(stored, supplied)

        def check_needs_rehash(self, stored: str) -> bool:
            return real.check_needs_rehash(stored)

    monkeypatch.setattr(passwords, "_hasher", RecordingHasher())
    return checked


async def test_the_sixth_attempt_for_an_email_is_refused_even_with_the_right_password(
    client: httpx.AsyncClient, signup: Any, hashes: list[str]
) -> None:
    await signup()
    for _ in range(5):
        response = await signin(client, "test@test.com", "wrong")
        assert response.status_code == 400
        assert response.json() == INVALID
    assert len(hashes) == 5

    assert_throttled(await signin(client, "test@test.com", "password"))
    assert_throttled(await signin(client, "test@test.com", "wrong", address="203.0.113.9"))
    assert len(hashes) == 5  # a refused attempt costs no hashing
    # Refused attempts are not failures: only the five are counted.
    assert await failures_of(email_key("test@test.com")) == 5


async def test_unknown_emails_are_throttled_the_same_way(client: httpx.AsyncClient) -> None:
    for _ in range(5):
        assert (await signin(client, "nobody@test.com", "password")).status_code == 400
    assert_throttled(await signin(client, "nobody@test.com", "password"))


async def test_others_are_not_slowed_by_a_throttled_email(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup(email="victim@test.com")
    await signup(email="other@test.com")
    for _ in range(5):
        await signin(client, "victim@test.com", "wrong", address="198.51.100.66")
    assert_throttled(await signin(client, "victim@test.com", "password"))

    response = await signin(client, "other@test.com", "password", address="203.0.113.7")
    assert response.status_code == 200
    assert response.headers["set-cookie"].startswith("session=")


async def test_twenty_failures_from_one_address_throttle_it_for_every_email(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup(email="real@test.com")
    for n in range(20):  # four each for five emails: no email reaches its own limit
        response = await signin(client, f"guess{n % 5}@test.com", "wrong", address="192.0.2.20")
        assert response.status_code == 400
    assert_throttled(await signin(client, "real@test.com", "password", address="192.0.2.20"))
    assert_throttled(await signin(client, "fresh@test.com", "password", address="192.0.2.20"))

    # The same person from another address is not throttled.
    response = await signin(client, "real@test.com", "password", address="192.0.2.21")
    assert response.status_code == 200


async def test_a_successful_sign_in_clears_the_emails_failures(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup()
    for _ in range(2):  # eight failures in all; without clearing the second round is refused
        for _ in range(4):
            assert (await signin(client, "test@test.com", "wrong")).status_code == 400
        assert (await signin(client, "test@test.com", "password")).status_code == 200
    assert await failures_of(email_key("test@test.com")) == 0
    # The address keeps its count (8 failures).
    assert await failures_of(address_key("198.51.100.1")) == 8


async def failed_earlier(key: str, minutes_ago: list[int]) -> None:
    """Failures of `key` that happened that many minutes ago, as the slots would hold them."""
    now = datetime.now(UTC)
    await SigninSlot.insert_many(
        [
            SigninSlot(
                id=f"{key}#{n}",
                key=key,
                attempt=f"earlier-{n}",
                pending=False,
                at=now - timedelta(minutes=age),
            )
            for n, age in enumerate(minutes_ago)
        ]
    )


async def failures_of(key: str) -> int:
    slots = await SigninSlot.find(SigninSlot.key == key).to_list()
    return len([slot for slot in slots if not slot.pending])


async def test_retry_after_is_when_the_oldest_counted_failure_leaves_the_window(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup()
    await failed_earlier(email_key("test@test.com"), [10, 14, 9, 8, 7])
    retry_after = assert_throttled(await signin(client, "test@test.com", "password"))
    assert 60 - 5 <= retry_after <= 60  # the one 14 minutes old leaves in a minute


async def test_failures_older_than_the_window_do_not_count(
    client: httpx.AsyncClient, signup: Any
) -> None:
    """The stand-in may not honour the TTL index: the window is applied by the code."""
    await signup()
    await failed_earlier(email_key("test@test.com"), [16, 10, 9, 8, 7])
    await failed_earlier(address_key("198.51.100.1"), [16] * 20)
    assert (await signin(client, "test@test.com", "password")).status_code == 200
    assert await failures_of(email_key("test@test.com")) == 0  # the success cleared them


async def test_simultaneous_guesses_cannot_outrun_the_limit(
    client: httpx.AsyncClient, signup: Any, hashes: list[str]
) -> None:
    """A burst of guesses sent at once: at most five reach the password check."""
    await signup()
    responses = await asyncio.gather(
        *(signin(client, "test@test.com", f"guess-{n}") for n in range(15))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [400] * 5 + [429] * 10
    assert len(hashes) == 5


async def test_simultaneous_right_sign_ins_are_queued_not_refused(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup()
    responses = await asyncio.gather(
        *(signin(client, "test@test.com", "password") for _ in range(12))
    )
    assert [r.status_code for r in responses] == [200] * 12


@pytest.fixture
async def two_replicas(
    service: ServiceSpec[Any, Any], settings: AuthSettings
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two instances of auth sharing one database, as replicas do."""
    async with (
        serving(service.create_app(settings, publisher=RecordingPublisher())) as first,
        serving(service.create_app(settings, publisher=RecordingPublisher())) as second,
    ):
        yield first, second


async def test_failures_are_counted_across_replicas(
    two_replicas: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    first, second = two_replicas
    credentials = {"email": "test@test.com", "password": "password"}
    assert (await first.post("/api/users/signup", json=credentials)).status_code == 201
    for replica in (first, second, first, second, first):
        assert (await signin(replica, "test@test.com", "wrong")).status_code == 400
    assert_throttled(await signin(second, "test@test.com", "password"))
    assert_throttled(await signin(first, "test@test.com", "password"))


async def test_the_web_client_can_vouch_for_its_visitors_address(
    client: httpx.AsyncClient, signup: Any, jwt_key: str
) -> None:
    """The web client calls the API through the ingress, so the ingress reports the client's
    own address; a signed `X-Visitor-Address` names the visitor instead. Unsigned, it is
    ignored."""
    await signup(email="real@test.com")

    async def via_web_client(email: str, visitor: str, key: str = jwt_key) -> httpx.Response:
        return await client.post(
            "/api/users/signin",
            json={"email": email, "password": "wrong"},
            headers={
                "X-Real-IP": "10.0.0.5",  # the web client, as the ingress sees it
                "X-Visitor-Address": sign_visitor_address(visitor, key),
            },
        )

    for n in range(20):
        assert (await via_web_client(f"guess{n % 5}@test.com", "192.0.2.80")).status_code == 400
    assert (
        await signin(client, "real@test.com", "password", address="10.0.0.5")
    ).status_code == 200
    # The visitor is throttled, by the address the web client vouched for:
    assert_throttled(await signin(client, "real@test.com", "password", address="192.0.2.80"))
    # A visitor address not signed with the key counts against the sender (10.0.0.5).
    forged = [
        await via_web_client(f"forged{n % 5}@test.com", "192.0.2.99", "not-the-key")
        for n in range(20)
    ]
    assert [r.status_code for r in forged] == [400] * 20
    assert_throttled(await signin(client, "real@test.com", "password", address="10.0.0.5"))
    response = await signin(client, "real@test.com", "password", address="192.0.2.99")
    assert response.status_code == 200
