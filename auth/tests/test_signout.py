from typing import Any

import httpx


async def test_clears_the_cookie_after_signing_out(client: httpx.AsyncClient, signup: Any) -> None:
    await signup()
    assert client.cookies.get("session")
    response = await client.post("/api/users/signout")
    assert response.status_code == 200
    assert response.json() == {}
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith('session=""') or set_cookie.startswith("session=;")
    assert "max-age=0" in set_cookie.lower() or "expires=thu, 01 jan 1970" in set_cookie.lower()
    assert (await client.get("/api/users/currentuser")).json() == {"currentUser": None}
