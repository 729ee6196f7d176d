import asyncio
from typing import Any

import httpx
import pytest

from auth.models import User
from auth.settings import AuthSettings
from common.service import ServiceSpec
from testsupport.apps import NO_NATS, serving
from testsupport.doubles import RecordingPublisher


async def test_returns_201_with_the_user_on_successful_signup(
    client: httpx.AsyncClient, signup: Any
) -> None:
    response = await signup()
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email"}
    assert body["email"] == "test@test.com"
    stored = await User.get(body["id"])
    assert stored is not None
    assert stored.email == "test@test.com"


async def test_sets_a_session_cookie_after_successful_signup(
    client: httpx.AsyncClient, signup: Any
) -> None:
    response = await signup()
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("session=")
    assert "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()


async def test_the_cookie_is_secure_unless_configured_off(
    service: ServiceSpec[Any, Any], mongo_uri: str, jwt_key: str
) -> None:
    by_default = AuthSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL=NO_NATS)
    app = service.create_app(by_default, publisher=RecordingPublisher())
    async with serving(app, base_url="https://test") as client:
        response = await client.post(
            "/api/users/signup", json={"email": "test@test.com", "password": "password"}
        )
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.com", "", "a b@c.com"])
async def test_returns_400_with_an_invalid_email(
    client: httpx.AsyncClient, email: str, signup: Any
) -> None:
    response = await signup(email=email)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Email must be valid", "field": "email"}]}


@pytest.mark.parametrize("password", ["p", "abc", "   abc   ", "x" * 21, ""])
async def test_returns_400_with_an_invalid_password(
    client: httpx.AsyncClient, password: str, signup: Any
) -> None:
    response = await signup(password=password)
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Password must be between 4 and 20 characters", "field": "password"}]
    }


async def test_returns_400_with_missing_email_and_password(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/users/signup", json={})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"email", "password"}
    response = await client.post("/api/users/signup", json={"email": "test@test.com"})
    assert [e["field"] for e in response.json()["errors"]] == ["password"]


async def test_disallows_duplicate_emails(client: httpx.AsyncClient, signup: Any) -> None:
    assert (await signup()).status_code == 201
    response = await signup()
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Email in use", "field": "email"}]}
    assert await User.find_all().count() == 1


async def test_simultaneous_signups_with_one_email_create_one_user(
    client: httpx.AsyncClient, signup: Any
) -> None:
    responses = await asyncio.gather(*(signup() for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [400] * 7
    assert await User.find_all().count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": {"$ne": None}, "password": "password"},
        {"email": "test@test.com", "password": {"$gt": ""}},
        {"email": ["test@test.com"], "password": "password"},
    ],
)
async def test_mongo_operators_in_input_are_rejected(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/api/users/signup", json=body)
    assert response.status_code == 400
    assert await User.find_all().count() == 0


async def test_passwords_are_stored_only_as_a_salted_hash(
    client: httpx.AsyncClient, signup: Any
) -> None:
    await signup(email="a@test.com", password="password")
    await signup(email="b@test.com", password="password")
    users = await User.find_all().to_list()
    hashes = [user.password for user in users]
    assert all(h.startswith("$argon2") for h in hashes)
    assert "password" not in hashes
    assert hashes[0] != hashes[1]


async def test_the_password_is_trimmed(client: httpx.AsyncClient, signup: Any) -> None:
    await signup(password="  secret  ")
    response = await client.post(
        "/api/users/signin", json={"email": "test@test.com", "password": "secret"}
    )
    assert response.status_code == 200


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/users/signup", content=b"{", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "body"
