"""Sessions expire (`exp` = `iat` + SESSION_TTL_SECONDS) and signing out revokes them."""

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from jose import jwt

from auth.models import RevokedSession
from auth.settings import AuthSettings
from common.revocation import revocation_subject
from common.service import ServiceSpec
from common.session import issue_token
from testsupport.apps import serving
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import outbox_of


async def current_user_with(client: httpx.AsyncClient, token: str) -> Any:
    """`currentUser` as auth answers it to a request carrying exactly this token."""
    client.cookies.clear()
    response = await client.get("/api/users/currentuser", headers={"Cookie": f"session={token}"})
    assert response.status_code == 200
    return response.json()["currentUser"]


def claims_of(response: httpx.Response, jwt_key: str) -> dict[str, Any]:
    token = response.cookies["session"]
    claims: dict[str, Any] = jwt.decode(token, jwt_key, algorithms=["HS256"])
    return claims


@pytest.fixture
async def short_lived(
    service: ServiceSpec[Any, Any], settings: AuthSettings, publisher: RecordingPublisher
) -> AsyncIterator[httpx.AsyncClient]:
    """Auth with a two-minute session lifetime."""
    two_minutes = settings.model_copy(update={"SESSION_TTL_SECONDS": 120})
    async with serving(service.create_app(two_minutes, publisher=publisher)) as client:
        yield client


async def test_tokens_carry_an_expiry_of_the_configured_lifetime_and_an_id(
    short_lived: httpx.AsyncClient, jwt_key: str
) -> None:
    credentials = {"email": "ttl@test.com", "password": "password"}
    signed_up = await short_lived.post("/api/users/signup", json=credentials)
    signed_in = await short_lived.post("/api/users/signin", json=credentials)
    for response in (signed_up, signed_in):
        claims = claims_of(response, jwt_key)
        assert claims["exp"] == claims["iat"] + 120
        assert abs(claims["iat"] - time.time()) < 5
        assert claims["jti"]
    assert claims_of(signed_up, jwt_key)["jti"] != claims_of(signed_in, jwt_key)["jti"]


async def test_the_default_lifetime_is_a_day(
    client: httpx.AsyncClient, signup: Any, jwt_key: str
) -> None:
    claims = claims_of(await signup(), jwt_key)
    assert claims["exp"] - claims["iat"] == 86400


async def test_an_expired_token_is_no_session(client: httpx.AsyncClient, jwt_key: str) -> None:
    long_ago = int(time.time()) - 3600
    expired = issue_token("u1", "a@b.com", jwt_key, 60, issued_at=long_ago)
    assert await current_user_with(client, expired) is None
    still_valid = issue_token("u1", "a@b.com", jwt_key, 7200, issued_at=long_ago)
    assert (await current_user_with(client, still_valid))["id"] == "u1"


async def test_a_token_without_expiry_is_no_session(
    client: httpx.AsyncClient, jwt_key: str
) -> None:
    """The original's tokens had no `exp`: one signed years ago must not work for ever."""
    ancient = {"id": "u1", "email": "a@b.com", "iat": int(time.time()) - 10 * 365 * 86400}
    assert await current_user_with(client, jwt.encode(ancient, jwt_key, algorithm="HS256")) is None


async def test_signing_out_revokes_the_token(
    app: FastAPI,
    client: httpx.AsyncClient,
    signup: Any,
    jwt_key: str,
    publisher: RecordingPublisher,
) -> None:
    signed_up = await signup()
    token = signed_up.cookies["session"]
    claims = claims_of(signed_up, jwt_key)
    assert (await current_user_with(client, token))["id"] == claims["id"]

    client.cookies.set("session", token)
    response = await client.post("/api/users/signout")
    assert response.status_code == 200
    assert response.json() == {}

    # The old cookie, presented again (as a copy kept by someone else would be), is refused.
    assert await current_user_with(client, token) is None

    # The revocation is stored, and published as a put into the revoked-sessions bucket.
    await outbox_of(app).clear_published()  # published events are cleared in batches
    stored = await RevokedSession.get(claims["jti"])
    assert stored is not None
    assert int(stored.expires_at.timestamp()) == claims["exp"]
    assert stored.outbox == []
    puts = [e for e in publisher.published if e.subject == revocation_subject(claims["jti"])]
    assert [e.data for e in puts] == [{"exp": claims["exp"]}]


async def test_signing_out_twice_with_one_token_revokes_it_once(
    client: httpx.AsyncClient, signup: Any, publisher: RecordingPublisher
) -> None:
    token = (await signup()).cookies["session"]
    client.cookies.clear()
    for _ in range(2):
        signout = await client.post("/api/users/signout", headers={"Cookie": f"session={token}"})
        assert signout.status_code == 200
    assert await RevokedSession.count() == 1
    assert len([e for e in publisher.published if e.subject.startswith("$KV.")]) == 1


async def test_signing_out_without_a_valid_token_still_clears_the_cookie(
    client: httpx.AsyncClient, publisher: RecordingPublisher
) -> None:
    client.cookies.set("session", "not-a-jwt")
    response = await client.post("/api/users/signout")
    assert response.status_code == 200
    assert response.headers["set-cookie"].startswith(("session=;", 'session=""'))
    assert await RevokedSession.count() == 0
    assert publisher.published == []


async def test_a_revocation_made_while_nats_is_down_is_published_later(
    client: httpx.AsyncClient, signup: Any, jwt_key: str, publisher: RecordingPublisher, app: Any
) -> None:
    signed_up = await signup()
    jti = claims_of(signed_up, jwt_key)["jti"]
    publisher.fail = True
    assert (await client.post("/api/users/signout")).status_code == 200
    assert publisher.published == []
    stored = await RevokedSession.get(jti)
    assert stored is not None
    assert len(stored.outbox) == 1  # kept until NATS is back

    publisher.fail = False
    assert await outbox_of(app).drain_once(grace=0) == 1
    assert [e.subject for e in publisher.published] == [revocation_subject(jti)]
    stored = await RevokedSession.get(jti)
    assert stored is not None
    assert stored.outbox == []


async def test_other_sessions_of_the_user_stay_valid(
    client: httpx.AsyncClient, signup: Any
) -> None:
    """Signing out ends the session it is sent with, not the user's other devices."""
    this_device = (await signup()).cookies["session"]
    credentials = {"email": "test@test.com", "password": "password"}
    other_device = (await client.post("/api/users/signin", json=credentials)).cookies["session"]
    client.cookies.clear()
    signout = await client.post("/api/users/signout", headers={"Cookie": f"session={this_device}"})
    assert signout.status_code == 200
    assert await current_user_with(client, this_device) is None
    assert (await current_user_with(client, other_device))["email"] == "test@test.com"
