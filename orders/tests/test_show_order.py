from collections.abc import Callable
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

Auth = Callable[..., dict[str, str]]


async def test_fetches_the_order(
    order: dict[str, Any], buyer: dict[str, str], client: AsyncClient
) -> None:
    response = await client.get(f"/api/orders/{order['id']}", headers=buyer)
    assert response.status_code == 200
    assert response.json() == order


async def test_401_for_another_users_order(
    order: dict[str, Any], client: AsyncClient, auth: Auth
) -> None:
    response = await client.get(f"/api/orders/{order['id']}", headers=auth())
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}


async def test_401_when_signed_out(client: AsyncClient) -> None:
    response = await client.get(f"/api/orders/{PydanticObjectId()}")
    assert response.status_code == 401


async def test_404_when_there_is_no_such_order(client: AsyncClient, auth: Auth) -> None:
    response = await client.get(f"/api/orders/{PydanticObjectId()}", headers=auth())
    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_404_for_a_malformed_id(client: AsyncClient, auth: Auth) -> None:
    response = await client.get("/api/orders/nope", headers=auth())
    assert response.status_code == 404
