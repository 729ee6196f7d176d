"""The auth API under fuzzing (schemathesis, from its OpenAPI): whatever the request, the
answer is never a 5xx, and every 4xx is in the error shape (see `testsupport.fuzzing`)."""

from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI

from auth.app import SERVICE
from auth.models import User
from auth.passwords import hash_password
from testsupport.fuzzing import (
    FUZZ_SETTINGS,
    ValidCall,
    check_call,
    check_hostile_text,
    load_schema,
    with_startup,
)

EMAIL = "known@test.com"
PASSWORD = "password"
"""The credentials of the one stored user."""


schema = load_schema(
    SERVICE,
    bodies=[
        {"email": EMAIL},
        {"email": EMAIL, "password": PASSWORD},
        {"email": f" {EMAIL} ", "password": f" {PASSWORD} "},
        {"email": "new.user@test.com", "password": "secret1"},
    ],
)


@pytest.fixture
def fuzz_app(unstarted_app: FastAPI) -> FastAPI:
    """The service on a fresh database holding one user (started by schemathesis)."""

    async def store_user() -> None:
        await User(email=EMAIL, password=await hash_password(PASSWORD)).insert()

    return with_startup(unstarted_app, store_user)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_answer_is_in_the_contract(
    case: schemathesis.Case,
    fuzz_app: FastAPI,
    signin: Callable[..., dict[str, str]],
) -> None:
    """Generated requests, some with the stored user's credentials or new ones (so that
    sign-up meets `Email in use` and sign-in gets past the password check), with a session
    cookie."""
    check_call(case, fuzz_app, signin())


def test_hostile_text_in_any_field_is_refused_or_harmless(fuzz_app: FastAPI) -> None:
    calls = [
        ValidCall("POST /api/users/signup", {"email": "new@test.com", "password": PASSWORD}),
        ValidCall("POST /api/users/signin", {"email": EMAIL, "password": PASSWORD}),
    ]
    check_hostile_text(schema, fuzz_app, calls)
