import asyncio
from typing import Any

import httpx
import pytest

INVALID = {"errors": [{"message": "Invalid credentials"}]}


async def signin(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/users/signin", json={"email": email, "password": password})


async def test_fails_when_the_email_does_not_exist(client: httpx.AsyncClient) -> None:
    response = await signin(client, "nobody@test.com", "password")
    assert response.status_code == 400
    assert response.json() == INVALID
    assert "set-cookie" not in response.headers


async def test_fails_with_an_incorrect_password_and_the_same_answer(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup()
    response = await signin(client, "test@test.com", "wrong-password")
    assert response.status_code == 400
    assert response.json() == INVALID
    assert "set-cookie" not in response.headers


async def test_responds_with_a_cookie_given_valid_credentials(
    client: httpx.AsyncClient, signup: Any
) -> None:
    user = (await signup()).json()
    response = await signin(client, "test@test.com", "password")
    assert response.status_code == 200
    assert response.json() == user
    assert response.headers["set-cookie"].startswith("session=")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "bad", "password": "password"}, "email"),
        ({"email": "test@test.com", "password": "  "}, "password"),
        ({"email": "test@test.com"}, "password"),
        ({"email": {"$ne": None}, "password": "password"}, "email"),
    ],
)
async def test_invalid_input_is_400_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str, signup: Any
) -> None:
    await signup()
    response = await client.post("/api/users/signin", json=body)
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_concurrent_sign_ins_hash_at_most_two_at_a_time(
    client: httpx.AsyncClient, signup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """argon2 takes memory and a core a hash: a burst of sign-ins must not run them all at
    once."""
    import threading
    import time

    from auth import passwords

    monkeypatch.setattr(passwords, "CONCURRENT_HASHES", 2)
    await signup()
    running = 0
    most = 0
    lock = threading.Lock()
    real_hasher = passwords._hasher

    class CountingHasher:
        def verify(self, stored: str, supplied: str) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            time.sleep(0.02)
            try:
                return real_hasher.verify(stored, supplied)
            finally:
                with lock:
                    running -= 1

        def check_needs_rehash(self, stored: str) -> bool:
            return real_hasher.check_needs_rehash(stored)

    monkeypatch.setattr(passwords, "_hasher", CountingHasher())
    responses = await asyncio.gather(
        *(signin(client, "test@test.com", "password") for _ in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8
    assert most == 2
