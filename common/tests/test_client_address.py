"""Whom sign-in throttling counts a request against."""

import httpx
from fastapi import FastAPI, Request

from common.client_address import (
    VISITOR_ADDRESS_HEADER,
    client_address,
    sign_visitor_address,
    verified_visitor_address,
)
from common.session import SessionReader

KEY = "address-key"


def make_app() -> FastAPI:
    app = FastAPI()
    app.state.sessions = SessionReader(KEY, 3600)

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"address": client_address(request)}

    return app


async def address(headers: dict[str, str]) -> str:
    transport = httpx.ASGITransport(app=make_app(), client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer: str = (await client.get("/who", headers=headers)).json()["address"]
        return answer


async def test_the_socket_peer_without_an_ingress() -> None:
    assert await address({}) == "10.1.2.3"


async def test_the_address_the_ingress_saw() -> None:
    assert await address({"X-Real-IP": "198.51.100.4"}) == "198.51.100.4"


async def test_a_visitor_the_web_client_vouches_for() -> None:
    vouched = sign_visitor_address("2001:db8::7", KEY)
    headers = {"X-Real-IP": "10.0.0.5", VISITOR_ADDRESS_HEADER: vouched}
    assert await address(headers) == "2001:db8::7"


async def test_a_visitor_address_not_signed_with_the_key_is_ignored() -> None:
    for forged in (
        sign_visitor_address("192.0.2.1", "another-key"),
        "192.0.2.1",
        "192.0.2.1;",
        sign_visitor_address("192.0.2.1", KEY).replace("192.0.2.1", "192.0.2.2"),
    ):
        headers = {"X-Real-IP": "10.0.0.5", VISITOR_ADDRESS_HEADER: forged}
        assert await address(headers) == "10.0.0.5", forged


def test_signatures_round_trip() -> None:
    assert verified_visitor_address(sign_visitor_address("192.0.2.1", KEY), KEY) == "192.0.2.1"
    assert verified_visitor_address(";", KEY) is None
