from collections.abc import Callable

from beanie import PydanticObjectId
from httpx import AsyncClient

Auth = Callable[..., dict[str, str]]


async def test_404_when_the_ticket_does_not_exist(client: AsyncClient) -> None:
    response = await client.get(f"/api/tickets/{PydanticObjectId()}")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_404_for_a_malformed_id(client: AsyncClient) -> None:
    response = await client.get("/api/tickets/not-an-id")
    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_returns_the_ticket(client: AsyncClient, auth: Auth) -> None:
    created = (
        await client.post("/api/tickets", json={"title": "concert", "price": 20}, headers=auth())
    ).json()
    response = await client.get(f"/api/tickets/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert response.json()["title"] == "concert"
    assert response.json()["price"] == 20
