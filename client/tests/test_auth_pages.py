import json
import re
from collections.abc import Awaitable, Callable

import httpx
import pytest
import respx

from common.client_address import verified_visitor_address
from testsupport.doubles import refusal

FormToken = Callable[..., Awaitable[str]]
Submit = Callable[..., Awaitable[httpx.Response]]
SESSION_SET = "session=new-token; HttpOnly; Path=/; SameSite=lax"
SESSION_CLEARED = (
    'session=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; SameSite=lax'
)


def field_error(html: str, field: str) -> str:
    """The error text rendered right under `field`'s input (empty when there is none)."""
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    return match.group(1) if match else ""


async def test_signup_page_has_labelled_inputs(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/signup")

    html = response.text
    assert response.status_code == 200
    assert '<label for="email">' in html
    assert 'id="email"' in html
    assert '<label for="password">' in html
    assert 'id="password"' in html
    assert 'action="/auth/signup"' in html
    assert "csrf=" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]
    assert "SameSite=lax" in response.headers["set-cookie"]


async def test_signup_success_sets_the_cookie_and_redirects(
    api: respx.MockRouter, submit: Submit
) -> None:
    signup = api.post("/api/users/signup").respond(
        201,
        json={"id": "u1", "email": "new@example.com"},
        headers={"set-cookie": SESSION_SET},
    )

    response = await submit("/auth/signup", email=" new@example.com ", password="secret")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert response.headers["set-cookie"] == SESSION_SET
    assert json.loads(signup.calls.last.request.content) == {
        "email": "new@example.com",
        "password": "secret",
    }


async def test_signup_error_is_shown_next_to_the_email_field(
    api: respx.MockRouter, submit: Submit
) -> None:
    api.post("/api/users/signup").respond(400, json=refusal("Email in use", field="email"))

    response = await submit("/auth/signup", email="taken@example.com", password="secret")

    html = response.text
    assert response.status_code == 400
    assert field_error(html, "email") == "Email in use"
    assert field_error(html, "password") == ""
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="email-error"' in html
    assert 'value="taken@example.com"' in html  # what was typed stays
    assert "secret" not in html  # the password is never echoed back
    assert '"errors"' not in html  # not raw JSON


async def test_several_field_errors_each_under_their_field(
    api: respx.MockRouter, submit: Submit
) -> None:
    api.post("/api/users/signup").respond(
        400,
        json={
            "errors": [
                {"message": "Email must be valid", "field": "email"},
                {"message": "Password must be between 4 and 20 characters", "field": "password"},
            ]
        },
    )

    html = (await submit("/auth/signup", email="x", password="a")).text

    assert field_error(html, "email") == "Email must be valid"
    assert field_error(html, "password") == "Password must be between 4 and 20 characters"


async def test_signin_error_without_a_field_is_shown_above_the_form(
    api: respx.MockRouter, submit: Submit
) -> None:
    api.post("/api/users/signin").respond(400, json=refusal("Invalid credentials"))

    response = await submit("/auth/signin", email="a@example.com", password="wrong")

    assert response.status_code == 400
    assert re.search(r'role="alert">\s*<p>Invalid credentials</p>', response.text)


async def test_throttled_sign_ins_are_shown_above_the_form(
    api: respx.MockRouter, submit: Submit
) -> None:
    message = "Too many failed sign-ins; try again later"
    api.post("/api/users/signin").respond(
        429, json=refusal(message), headers={"Retry-After": "600"}
    )

    response = await submit("/auth/signin", email="a@example.com", password="pw")

    assert response.status_code == 429
    assert re.search(rf'role="alert">\s*<p>{message}</p>', response.text)


async def test_api_calls_carry_the_visitors_address_signed(
    client: httpx.AsyncClient, api: respx.MockRouter, form_token: FormToken, jwt_key: str
) -> None:
    """Auth counts failed sign-ins per client address; behind the ingress, the client's calls
    would all count against the client itself without the visitor's address."""
    signin = api.post("/api/users/signin").respond(400, json=refusal("No"))
    token = await form_token()

    await client.post(
        "/auth/signin",
        data={"email": "a@example.com", "password": "pw", "csrf_token": token},
        headers={"X-Real-IP": "203.0.113.50"},  # set by the ingress
    )

    vouched = signin.calls.last.request.headers["x-visitor-address"]
    assert verified_visitor_address(vouched, jwt_key) == "203.0.113.50"
    assert verified_visitor_address(vouched, "another-key") is None


async def test_signin_returns_to_the_page_asked_for_but_never_off_site(
    client: httpx.AsyncClient, api: respx.MockRouter, form_token: FormToken
) -> None:
    api.post("/api/users/signin").respond(
        200, json={"id": "u1", "email": "a@example.com"}, headers={"set-cookie": SESSION_SET}
    )
    page = await client.get("/auth/signin?next=/tickets/new")
    assert 'name="next" value="/tickets/new"' in page.text
    token = await form_token()

    credentials = {"email": "a@example.com", "password": "pw12", "csrf_token": token}
    back = await client.post("/auth/signin", data={**credentials, "next": "/tickets/new"})
    off_site = await client.post("/auth/signin", data={**credentials, "next": "//evil.example/"})

    assert back.headers["location"] == "/tickets/new"
    assert back.headers["set-cookie"] == SESSION_SET
    assert off_site.headers["location"] == "/"


@pytest.mark.usefixtures("signed_in")
async def test_signed_in_visitor_is_sent_home_from_the_signup_page(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/auth/signup")

    assert response.status_code == 303
    assert response.headers["location"] == "/"


@pytest.mark.usefixtures("signed_in")
async def test_signout_forwards_the_cookie_and_passes_the_cleared_cookie_back(
    api: respx.MockRouter, session_token: str, submit: Submit
) -> None:
    api.get("/api/tickets").respond(200, json=[])
    signout = api.post("/api/users/signout").respond(
        200, json={}, headers={"set-cookie": SESSION_CLEARED}
    )

    response = await submit("/", to="/auth/signout")

    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert response.headers["set-cookie"] == SESSION_CLEARED
    assert signout.calls.last.request.headers["cookie"] == f"session={session_token}"


@pytest.mark.usefixtures("signed_in")
async def test_signout_clears_the_cookie_even_when_the_api_is_down(
    api: respx.MockRouter, submit: Submit
) -> None:
    api.get("/api/tickets").respond(200, json=[])
    api.post("/api/users/signout").mock(side_effect=httpx.ConnectError("down"))

    response = await submit("/", to="/auth/signout")

    assert response.status_code == 303
    assert response.headers["set-cookie"].startswith('session=""')
    assert "Max-Age=0" in response.headers["set-cookie"]


async def test_signout_page_asks_before_signing_out(
    client: httpx.AsyncClient, api: respx.MockRouter, sign_in: Callable[[], respx.Route]
) -> None:
    signout = api.post("/api/users/signout")
    signed_out_visit = await client.get("/auth/signout")
    sign_in()

    page = await client.get("/auth/signout")

    assert signed_out_visit.status_code == 303
    assert page.status_code == 200
    assert "Sign out?" in page.text
    assert 'action="/auth/signout"' in page.text
    assert not signout.called  # a GET never signs anyone out
