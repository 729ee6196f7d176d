from collections.abc import Awaitable, Callable

import httpx
import respx
from itsdangerous import URLSafeSerializer

FormToken = Callable[..., Awaitable[str]]


async def test_post_without_token_is_rejected_with_a_page_and_no_api_call(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    signup = api.post("/api/users/signup").respond(201, json={})
    await client.get("/auth/signup")  # the csrf cookie is there, the field is not

    response = await client.post(
        "/auth/signup", data={"email": "a@example.com", "password": "secret"}
    )

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "This form has expired" in response.text
    assert not signup.called


async def test_token_not_matching_the_cookie_is_rejected(
    client: httpx.AsyncClient, api: respx.MockRouter, form_token: FormToken
) -> None:
    signup = api.post("/api/users/signup").respond(201, json={})
    token = await form_token("/auth/signup")
    other = URLSafeSerializer("test-jwt-key", salt="client-csrf").dumps("another-visitor")
    assert other != token

    response = await client.post(
        "/auth/signup", data={"email": "a@example.com", "password": "secret", "csrf_token": other}
    )

    assert response.status_code == 403
    assert not signup.called


async def test_cross_site_post_without_the_cookie_is_rejected(
    client: httpx.AsyncClient, api: respx.MockRouter, form_token: FormToken
) -> None:
    """A form on another site may copy a token, but the browser sends no Lax cookie with it."""
    purchase = api.post("/api/orders").respond(201, json={"id": "x"})
    token = await form_token("/auth/signup")
    client.cookies.delete("csrf")

    response = await client.post(
        "/tickets/6560f0c2a1b2c3d4e5f60001/purchase", data={"csrf_token": token}
    )

    assert response.status_code == 403
    assert not purchase.called


async def test_forged_pair_signed_with_another_key_is_rejected(
    client: httpx.AsyncClient, api: respx.MockRouter
) -> None:
    signin = api.post("/api/users/signin").respond(200, json={})
    forged = URLSafeSerializer("attacker-key", salt="client-csrf").dumps("x")
    client.cookies.set("csrf", forged)

    response = await client.post(
        "/auth/signin", data={"email": "a@example.com", "password": "pw", "csrf_token": forged}
    )

    assert response.status_code == 403
    assert not signin.called


async def test_the_token_is_kept_across_pages(
    client: httpx.AsyncClient, form_token: FormToken
) -> None:
    first = await form_token("/auth/signin")
    second = await form_token("/auth/signup")

    assert first == second
    assert client.cookies["csrf"] == first
