from collections.abc import Awaitable, Callable

from beanie import PydanticObjectId
from httpx import AsyncClient

from orders.models import Ticket

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]


async def test_fetches_the_order(client: AsyncClient, auth: Auth, make_ticket: MakeTicket) -> None:
    ticket = await make_ticket()
    user = auth()
    order = (
        await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=user)
    ).json()
    response = await client.get(f"/api/orders/{order['id']}", headers=user)
    assert response.status_code == 200
    assert response.json() == order


async def test_401_for_another_users_order(
    client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket()
    order = (
        await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    ).json()
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
