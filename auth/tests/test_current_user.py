from typing import Any

import httpx

from common.session import issue_token


async def test_responds_with_details_about_the_current_user(
    client: httpx.AsyncClient, signup: Any
) -> None:
    user = (await signup()).json()
    response = await client.get("/api/users/currentuser")
    assert response.status_code == 200
    current = response.json()["currentUser"]
    assert set(current) == {"id", "email", "iat"}
    assert (current["id"], current["email"]) == (user["id"], user["email"])


async def test_responds_with_null_when_not_signed_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/users/currentuser")
    assert response.status_code == 200
    assert response.json() == {"currentUser": None}


async def test_responds_with_null_for_a_tampered_token(client: httpx.AsyncClient) -> None:
    client.cookies.set("session", issue_token("u1", "a@b.com", "some-other-key"))
    assert (await client.get("/api/users/currentuser")).json() == {"currentUser": None}
    client.cookies.set("session", "not-a-jwt")
    assert (await client.get("/api/users/currentuser")).json() == {"currentUser": None}


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True}
