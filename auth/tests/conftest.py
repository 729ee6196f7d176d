"""The auth service started on a fresh database, its events recorded (`app` and `client` come
from `testsupport.plugin`)."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from auth.app import SERVICE
from auth.settings import AuthSettings
from common.service import ServiceSpec
from testsupport.apps import NO_NATS


@pytest.fixture
def service() -> ServiceSpec[Any, Any]:
    return SERVICE


@pytest.fixture
def settings(mongo_uri: str, jwt_key: str) -> AuthSettings:
    return AuthSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL=NO_NATS, COOKIE_SECURE=False)


Signup = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def signup(client: httpx.AsyncClient) -> Signup:
    """POST /api/users/signup with the given (or default) credentials."""

    async def post(email: str = "test@test.com", password: str = "password") -> httpx.Response:
        return await client.post("/api/users/signup", json={"email": email, "password": password})

    return post
