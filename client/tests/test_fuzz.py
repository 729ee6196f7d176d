"""The client under fuzzing: whatever a visitor sends (paths, query parameters, forms) and
whatever the API answers within its contract, the answer is a page or a redirect, never a
5xx of the client's own (a 502 page means the API failed, which the fake API here may do).

Pages come from schemathesis (the client's OpenAPI names its paths and query parameters);
forms, which the OpenAPI does not describe, from Hypothesis directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import respx
import schemathesis
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from client.app import SERVICE, create_app
from client.settings import ClientSettings
from common.session import COOKIE_NAME
from testsupport.apps import serving
from testsupport.doubles import refusal
from testsupport.fuzzing import FUZZ_EXAMPLES, FUZZ_SETTINGS, check_call, load_schema

TICKET_ID = "6560f0c2a1b2c3d4e5f60001"
ORDER_ID = "6560f0c2a1b2c3d4e5f6aaaa"

schema = load_schema(
    SERVICE,
    path_parameters={"ticket_id": [TICKET_ID], "order_id": [ORDER_ID]},
)


def answers_with_a_page(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """Schemathesis check: a refusal is an HTML page for the visitor, never JSON - except from
    the live pages' event streams (`/events/...`, read by scripts), which refuse what they
    are sent in the contract's error shape."""
    content_type = response.headers.get("content-type", [""])[0]
    if case.path.startswith("/events/") and response.status_code >= 400:
        if response.status_code == 405:  # the site's answer to a method no route takes
            return None
        body = json.loads(response.content)
        assert content_type == "application/json", content_type
        assert [set(e) <= {"message", "field"} for e in body["errors"]], body
        return None
    if response.status_code >= 400 and not content_type.startswith("text/html"):
        raise AssertionError(f"{response.status_code} answer is {content_type!r}, not a page")
    return None


class FakeApi:
    """The API as the client sees it, answering every call within the contract: as a working
    API would (`ok`), or refusing with 400 errors naming fields, 401, 404, or failing (503)."""

    def __init__(
        self,
        user: dict[str, Any],
        make_ticket: Callable[..., dict[str, Any]],
        make_order: Callable[..., dict[str, Any]],
    ) -> None:
        self.user, self.make_ticket, self.make_order = user, make_ticket, make_order
        self.answer = "ok"
        self.signed_in = True
        self.errors: list[dict[str, str]] = [{"message": "Title is required", "field": "title"}]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if path == "/api/users/currentuser":
            user = self.user if self.signed_in else None
            return httpx.Response(200, json={"currentUser": user})
        if self.answer == "invalid":
            return httpx.Response(400, json={"errors": self.errors})
        if self.answer == "unauthorised":
            return httpx.Response(401, json=refusal("Not authorized"))
        if self.answer == "missing":
            return httpx.Response(404, json=refusal("Not Found"))
        if self.answer == "failing":
            return httpx.Response(503, json=refusal("Try again later"))
        return self.success(method, path)

    def success(self, method: str, path: str) -> httpx.Response:
        make_ticket, make_order = self.make_ticket, self.make_order
        cookie = {"set-cookie": f"{COOKIE_NAME}=new-token; HttpOnly; Path=/; SameSite=lax"}
        if path in ("/api/users/signup", "/api/users/signin"):
            user = {"id": self.user["id"], "email": self.user["email"]}
            return httpx.Response(201, json=user, headers=cookie)
        if path == "/api/users/signout":
            return httpx.Response(200, json={})
        if path == "/api/tickets":
            return httpx.Response(
                201 if method == "POST" else 200,
                json=make_ticket() if method == "POST" else [make_ticket()],
            )
        if path.startswith("/api/tickets/"):
            return httpx.Response(200, json=make_ticket(id=path.rsplit("/", 1)[-1]))
        if path == "/api/orders":
            return httpx.Response(
                201 if method == "POST" else 200,
                json=make_order() if method == "POST" else [make_order()],
            )
        if path.startswith("/api/orders/"):
            if method == "DELETE":
                return httpx.Response(204)
            return httpx.Response(200, json=make_order(id=path.rsplit("/", 1)[-1]))
        if path == "/api/payments":
            return httpx.Response(201, json={"id": "6560f0c2a1b2c3d4e5f6cccc"})
        return httpx.Response(404, json=refusal("Not Found"))


def with_fake_api(fake: FakeApi, settings: ClientSettings) -> httpx.MockTransport:
    """What the client's calls to the API (`API_BASE_URL`) reach: `fake`."""
    router = respx.MockRouter(base_url=settings.API_BASE_URL, assert_all_called=False)
    router.route().mock(side_effect=fake)
    return httpx.MockTransport(router.async_handler)


@pytest.fixture
def fake_api(
    user: dict[str, Any],
    ticket_factory: Callable[..., dict[str, Any]],
    order_factory: Callable[..., dict[str, Any]],
) -> FakeApi:
    return FakeApi(user, ticket_factory, order_factory)


@pytest.fixture
def fuzz_app(settings: ClientSettings, fake_api: FakeApi) -> FastAPI:
    """The client in front of a working fake API (started by schemathesis)."""
    return create_app(settings, transport=with_fake_api(fake_api, settings))


@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=max(FUZZ_EXAMPLES // 3, 1))
def test_every_page_answers_with_a_page(
    case: schemathesis.Case, fuzz_app: FastAPI, session_token: str
) -> None:
    """Generated paths and query parameters, for a signed-in visitor (fewer cases than for
    the API: a page costs more, and its inputs are few)."""
    check_call(
        case,
        fuzz_app,
        {COOKIE_NAME: session_token},
        checks=[schemathesis.checks.not_a_server_error, answers_with_a_page],
    )


FORMS: dict[str, tuple[str, ...]] = {
    "/auth/signup": ("email", "password", "next"),
    "/auth/signin": ("email", "password", "next"),
    "/auth/signout": (),
    "/tickets/new": ("title", "price"),
    f"/tickets/{TICKET_ID}/purchase": (),
    f"/orders/{ORDER_ID}/pay": ("token",),
    f"/orders/{ORDER_ID}/cancel": (),
}
"""Every form of the client and the fields it reads."""

HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\r\n",
            "\u202e\u2066",
            "x" * 100_000,
            "NaN",
            "-Infinity",
            "1e999999",
            "-0",
            "$1,2.3",
            "0.001",
            "9" * 500,
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/orders?paid=1",
        ]
    ),
)
"""What a visitor may type (or a script may post) into any field."""

API_ERRORS = st.lists(
    st.fixed_dictionaries(
        {"message": st.text(min_size=1, max_size=40)},
        optional={"field": st.sampled_from(["title", "price", "email", "password", "token", "x"])},
    ),
    min_size=1,
    max_size=3,
)


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def forms_client(fuzz_app: FastAPI, base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of the client, in front of `fake_api` (whose answers each example sets)."""
    async with serving(fuzz_app, base_url) as http:
        yield http


@given(
    form=st.sampled_from(sorted(FORMS)),
    values=st.dictionaries(
        st.sampled_from(["email", "password", "next", "title", "price", "token", "other"]),
        HOSTILE_TEXT,
    ),
    multipart=st.booleans(),
    answer=st.sampled_from(["ok", "invalid", "unauthorised", "missing", "failing"]),
    errors=API_ERRORS,
    signed_in=st.booleans(),
)
@FUZZ_SETTINGS
async def test_every_form_answers_with_a_page_or_a_redirect(
    forms_client: httpx.AsyncClient,
    fake_api: FakeApi,
    session_token: str,
    form: str,
    values: dict[str, str],
    multipart: bool,
    answer: str,
    errors: list[dict[str, str]],
    signed_in: bool,
) -> None:
    """Any fields (with a valid CSRF token), sent as a browser would or as multipart, signed
    in or not, whatever the API then answers."""
    http = forms_client
    fake_api.answer, fake_api.errors = answer, errors
    http.cookies.clear()
    if signed_in:
        http.cookies.set(COOKIE_NAME, session_token)
    fake_api.signed_in = False  # the sign-in page shows its form (and sets the CSRF cookie)
    token = CSRF_FIELD.search((await http.get("/auth/signin")).text)
    assert token is not None
    fake_api.signed_in = signed_in
    fields = {**values, "csrf_token": token.group(1)}

    if multipart:
        response = await http.post(form, files={k: (None, v.encode()) for k, v in fields.items()})
    else:
        response = await http.post(form, data=fields)

    # A page, a redirect, or a refusal page; never 403 (the CSRF token is valid) nor a 5xx
    # but the 502 page of an API that failed or the 503 page of an API that is unavailable.
    assert response.status_code in (200, 303, 400, 404, 502, 503), (
        response.status_code,
        json.dumps(values)[:300],
    )
    if response.status_code != 303:
        assert response.headers["content-type"].startswith("text/html")
