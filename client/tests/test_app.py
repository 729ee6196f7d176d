import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
from fastapi import APIRouter

from client.settings import ClientSettings
from common.service import ServiceSpec
from testsupport.apps import serving


async def test_unknown_path_is_a_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Page not found" in response.text
    assert 'href="/auth/signin"' in response.text  # in the site layout, with its header


@pytest.mark.usefixtures("signed_in")
async def test_404_page_knows_who_is_signed_in(client: httpx.AsyncClient) -> None:
    response = await client.get("/nothing-here")

    assert response.status_code == 404
    assert "My orders" in response.text


async def test_wrong_method_is_an_html_page(client: httpx.AsyncClient) -> None:
    response = await client.delete("/")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("text/html")


async def test_probes_answer_json(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True}


async def test_styles_and_script_are_served_by_the_client(client: httpx.AsyncClient) -> None:
    page = await client.get("/auth/signin")

    for asset in ("app.css", "app.js"):
        assert f"/static/{asset}?v=" in page.text
        url = re.search(rf"/static/{asset}\?v=[0-9a-f]+", page.text)
        assert url
        served = await client.get(url.group(0))
        assert served.status_code == 200
        assert len(served.content) > 500
        assert "immutable" in served.headers["cache-control"]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "stripe" not in policy
    assert "https://" not in page.text.replace("https://js.stripe.com", "")


async def test_unexpected_error_is_an_html_500_page(
    service: ServiceSpec[Any, Any], settings: ClientSettings, base_url: str
) -> None:
    app = service.create_app(settings)
    boom = APIRouter()

    @boom.get("/boom")
    async def explode() -> None:
        raise RuntimeError("kaboom")

    app.include_router(boom)
    async with serving(app, base_url) as http:
        response = await http.get("/boom")

    assert response.status_code == 500
    assert "Something went wrong" in response.text
    assert "kaboom" not in response.text


def test_missing_api_base_url_stops_start_up_with_one_line() -> None:
    env = {"JWT_KEY": "k", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "client"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "Missing required environment variable: API_BASE_URL"
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("", None), ("  ", None), ("pk_live_1", "pk_live_1")]
)
def test_blank_publishable_key_means_test_card_mode(raw: str, expected: str | None) -> None:
    settings = ClientSettings(JWT_KEY="k", API_BASE_URL="http://x", STRIPE_PUBLISHABLE_KEY=raw)

    assert expected == settings.STRIPE_PUBLISHABLE_KEY
