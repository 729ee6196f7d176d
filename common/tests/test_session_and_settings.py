import time

import httpx
import pytest
from fastapi import FastAPI, Response
from jose import jwt

from common.errors import install_error_handlers
from common.session import (
    COOKIE_NAME,
    CurrentUser,
    RequiredUser,
    clear_session_cookie,
    issue_token,
    read_token,
    set_session_cookie,
)
from common.settings import MongoSettings, ServiceSettings, load_settings

KEY = "k1"


def test_a_token_round_trips_with_id_email_and_iat() -> None:
    token = issue_token("u1", "a@b.com", KEY)
    payload = read_token(token, KEY)
    assert payload is not None
    assert (payload.id, payload.email) == ("u1", "a@b.com")
    assert abs(payload.iat - time.time()) < 5


@pytest.mark.parametrize(
    "token",
    [
        issue_token("u1", "a@b.com", "another-key"),
        issue_token("u1", "a@b.com", KEY)[:-3] + "abc",
        "garbage",
        jwt.encode({"id": "u1", "email": "a@b.com", "iat": 1, "exp": 2}, KEY, algorithm="HS256"),
        jwt.encode({"email": "a@b.com", "iat": 1}, KEY, algorithm="HS256"),
    ],
)
def test_tampered_expired_or_incomplete_tokens_read_as_nobody(token: str) -> None:
    assert read_token(token, KEY) is None


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.jwt_key = KEY
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
