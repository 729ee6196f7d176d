"""The session cookie arrives in a header every service reads (through `common.session`):
whatever bytes it holds, if they are not a token we signed the request goes on signed out;
it never fails."""

from typing import Any

import httpx
from fastapi import APIRouter
from hypothesis import given, settings
from hypothesis import strategies as st

from common.service import ServiceSpec, no_dependencies
from common.session import COOKIE_NAME, CurrentUser, SessionReader, issue_token
from common.settings import ServiceSettings

KEY = "cookie-test-key"


@given(cookie=st.binary(max_size=300), valid_prefix=st.booleans())
@settings(max_examples=200, derandomize=True, database=None, deadline=None)
async def test_any_session_cookie_is_a_session_or_none(cookie: bytes, valid_prefix: bool) -> None:
    """Any bytes, alone or after the start of a real token (a cut or tampered one)."""
    router = APIRouter()

    @router.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"user": user.id if user else None}

    spec = ServiceSpec(
        name="cookie-test",
        settings=ServiceSettings,
        dependencies=no_dependencies,
        routers=[router],
    )
    app = spec.create_app(ServiceSettings(JWT_KEY=KEY))
    app.state.sessions = SessionReader(KEY, 3600)  # the lifespan (not run here) would set it
    token = issue_token("a1b2c3d4e5f6a1b2c3d4e5f6", "a@b.co", KEY).encode()
    value = (token[:40] if valid_prefix else b"") + cookie
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/me", headers={b"cookie": f"{COOKIE_NAME}=".encode() + value})
    assert response.status_code == 200
    assert response.json() == {"user": None}
