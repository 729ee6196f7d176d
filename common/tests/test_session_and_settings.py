import time

import httpx
import pytest
from fastapi import FastAPI, Response
from jose import jwt

from common.errors import install_error_handlers
from common.revocation import RevokedSessions
from common.session import (
    COOKIE_NAME,
    CurrentUser,
    RequiredUser,
    SessionReader,
    clear_session_cookie,
    issue_token,
    read_token,
    set_session_cookie,
)
from common.settings import MongoSettings, ServiceSettings, load_settings

KEY = "k1"
NOW = int(time.time())


def test_a_token_round_trips_with_id_email_iat_expiry_and_token_id() -> None:
    token = issue_token("u1", "a@b.com", KEY)
    payload = read_token(token, KEY)
    assert payload is not None
    assert (payload.id, payload.email) == ("u1", "a@b.com")
    assert abs(payload.iat - time.time()) < 5
    assert payload.exp == payload.iat + 86400  # the contract's default lifetime
    assert len(payload.jti) == 32
    assert payload.user().model_dump() == {"id": "u1", "email": "a@b.com", "iat": payload.iat}


def test_the_lifetime_is_the_one_given_and_token_ids_are_unique() -> None:
    first = read_token(issue_token("u1", "a@b.com", KEY, 300), KEY)
    second = read_token(issue_token("u1", "a@b.com", KEY, 300), KEY)
    assert first is not None
    assert second is not None
    assert first.exp == first.iat + 300
    assert first.jti != second.jti


@pytest.mark.parametrize(
    "token",
    [
        issue_token("u1", "a@b.com", "another-key"),
        issue_token("u1", "a@b.com", KEY)[:-3] + "abc",
        "garbage",
        jwt.encode({"id": "u1", "email": "a@b.com", "iat": 1, "exp": 2}, KEY, algorithm="HS256"),
        jwt.encode({"email": "a@b.com", "iat": 1}, KEY, algorithm="HS256"),
        issue_token("u1", "a@b.com", KEY, 60, issued_at=NOW - 61),
        # The original's tokens: no expiry, no id (a ten-year-old one must not work).
        jwt.encode({"id": "u1", "email": "a@b.com", "iat": NOW - 10 * 365 * 86400}, KEY),
        jwt.encode({"id": "u1", "email": "a@b.com", "iat": NOW}, KEY),
        jwt.encode({"id": "u1", "email": "a@b.com", "iat": NOW, "exp": NOW + 60}, KEY),
    ],
    ids=[
        "other-key",
        "bad-signature",
        "garbage",
        "expired-long-ago",
        "no-id",
        "expired",
        "no-expiry-old",
        "no-expiry",
        "no-token-id",
    ],
)
def test_tampered_expired_or_incomplete_tokens_read_as_nobody(token: str) -> None:
    assert read_token(token, KEY) is None


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.sessions = SessionReader(KEY, 3600, RevokedSessions())
    install_error_handlers(app)

    @app.get("/who")
    async def who(user: CurrentUser) -> dict[str, str | None]:
        return {"id": user.id if user else None}

    @app.get("/private")
    async def private(user: RequiredUser) -> dict[str, str]:
        return {"id": user.id}

    @app.post("/in")
    async def sign_in(response: Response) -> dict[str, str]:
        set_session_cookie(response, issue_token("u9", "x@y.com", KEY), secure=True)
        return {}

    @app.post("/out")
    async def sign_out(response: Response) -> dict[str, str]:
        clear_session_cookie(response, secure=False)
        return {}

    return app


async def test_current_user_and_require_auth() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/who")).json() == {"id": None}
        assert (await client.get("/private")).status_code == 401
        cookies = {COOKIE_NAME: issue_token("u1", "a@b.com", KEY)}
        client.cookies.update(cookies)
        assert (await client.get("/who")).json() == {"id": "u1"}
        assert (await client.get("/private")).json() == {"id": "u1"}


async def test_an_expired_session_is_nobody_and_is_refused_where_sign_in_is_required() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.cookies.set(COOKIE_NAME, issue_token("u1", "a@b.com", KEY, 60, issued_at=NOW - 61))
        assert (await client.get("/who")).json() == {"id": None}
        response = await client.get("/private")
        assert response.status_code == 401
        assert response.json() == {"errors": [{"message": "Not authorized"}]}


async def test_a_revoked_session_is_nobody() -> None:
    app = make_app()
    token = issue_token("u1", "a@b.com", KEY)
    claims = read_token(token, KEY)
    assert claims is not None
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.cookies.set(COOKIE_NAME, token)
        assert (await client.get("/private")).status_code == 200
        app.state.sessions.revoked.add(claims.jti, claims.exp)
        assert (await client.get("/who")).json() == {"id": None}
        assert (await client.get("/private")).status_code == 401


def test_revoked_ids_are_forgotten_once_their_tokens_have_expired() -> None:
    revoked = RevokedSessions()
    revoked.add("old", NOW - 10)
    revoked.add("live", NOW + 600)
    assert "live" in revoked
    revoked._next_prune = 0  # the next addition prunes
    revoked.add("new", NOW + 600)
    assert "old" not in revoked
    assert ("live" in revoked, "new" in revoked, len(revoked)) == (True, True, 2)


async def test_session_cookie_attributes() -> None:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        set_cookie = (await client.post("/in")).headers["set-cookie"].lower()
        assert set_cookie.startswith("session=")
        for attribute in ("httponly", "samesite=lax", "path=/", "secure"):
            assert attribute in set_cookie
        cleared = (await client.post("/out")).headers["set-cookie"].lower()
        assert cleared.startswith('session=""') or "max-age=0" in cleared
        assert "secure" not in cleared


class BothSettings(ServiceSettings, MongoSettings):
    pass


def test_the_session_lifetime_is_a_setting_with_the_contracts_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JWT_KEY", "abc")
    monkeypatch.setenv("MONGO_URI", "mongodb://h:1/db")
    monkeypatch.delenv("SESSION_TTL_SECONDS", raising=False)
    assert load_settings(BothSettings).SESSION_TTL_SECONDS == 86400
    monkeypatch.setenv("SESSION_TTL_SECONDS", "600")
    assert load_settings(BothSettings).SESSION_TTL_SECONDS == 600
    monkeypatch.setenv("SESSION_TTL_SECONDS", "0")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(BothSettings)
    assert exit_info.value.code == "Invalid environment variable: SESSION_TTL_SECONDS"


def test_settings_read_the_contract_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_KEY", "abc")
    monkeypatch.setenv("MONGO_URI", "mongodb://h:1/db")
    monkeypatch.setenv("PORT", "4001")
    settings = load_settings(BothSettings)
    assert (settings.JWT_KEY, settings.MONGO_URI, settings.PORT) == (
        "abc",
        "mongodb://h:1/db",
        4001,
    )


def test_a_missing_variable_exits_with_one_line_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_KEY", raising=False)
    monkeypatch.setenv("MONGO_URI", "mongodb://h:1/db")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(BothSettings)
    assert exit_info.value.code == "Missing required environment variable: JWT_KEY"
