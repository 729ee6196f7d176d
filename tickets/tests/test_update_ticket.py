from collections.abc import Callable
from typing import Any

import pytest
from beanie import PydanticObjectId
from httpx import AsyncClient

from testsupport.doubles import RecordingPublisher
from tickets.models import Ticket

Auth = Callable[..., dict[str, str]]
OWNER = "0123456789abcdef01234567"


async def create(client: AsyncClient, auth: Auth, user_id: str = OWNER) -> dict[str, Any]:
    response = await client.post(
        "/api/tickets", json={"title": "concert", "price": 20}, headers=auth(user_id)
    )
    assert response.status_code == 201
    return dict(response.json())


async def test_404_when_the_ticket_does_not_exist(client: AsyncClient, auth: Auth) -> None:
    response = await client.put(
        f"/api/tickets/{PydanticObjectId()}", json={"title": "a", "price": 20}, headers=auth()
    )
    assert response.status_code == 404
    assert response.json() == {"errors": [{"message": "Not Found"}]}


async def test_404_for_a_malformed_id(client: AsyncClient, auth: Auth) -> None:
    response = await client.put(
        "/api/tickets/zzz", json={"title": "a", "price": 20}, headers=auth()
    )
    assert response.status_code == 404


async def test_401_when_signed_out(client: AsyncClient, auth: Auth) -> None:
    ticket = await create(client, auth)
    response = await client.put(f"/api/tickets/{ticket['id']}", json={"title": "a", "price": 2})
    assert response.status_code == 401
    assert response.json() == {"errors": [{"message": "Not authorized"}]}


async def test_401_when_not_the_owner(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    ticket = await create(client, auth)
    response = await client.put(
        f"/api/tickets/{ticket['id']}", json={"title": "mine now", "price": 1}, headers=auth()
    )
    assert response.status_code == 401
    stored = await Ticket.get(ticket["id"])
    assert stored is not None
    assert (stored.title, stored.price_cents, stored.version) == ("concert", 2000, 0)
    assert publisher.subjects() == ["ticket:created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "price": 20}, "title"),
        ({"price": 20}, "title"),
        ({"title": "concert", "price": -10}, "price"),
        ({"title": "concert"}, "price"),
    ],
)
async def test_400_for_an_invalid_body(
    client: AsyncClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    ticket = await create(client, auth)
    response = await client.put(f"/api/tickets/{ticket['id']}", json=body, headers=auth(OWNER))
    assert response.status_code == 400
    assert [error["field"] for error in response.json()["errors"]] == [field]


async def test_updates_the_ticket(client: AsyncClient, auth: Auth) -> None:
    ticket = await create(client, auth)
    response = await client.put(
        f"/api/tickets/{ticket['id']}",
        json={"title": "new title", "price": 100},
        headers=auth(OWNER),
    )
    assert response.status_code == 200
    assert response.json() == {**ticket, "title": "new title", "price": 100, "version": 1}
    shown = (await client.get(f"/api/tickets/{ticket['id']}")).json()
    assert (shown["title"], shown["price"], shown["version"]) == ("new title", 100, 1)


async def test_publishes_ticket_updated(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    ticket = await create(client, auth)
    await client.put(
        f"/api/tickets/{ticket['id']}", json={"title": "new", "price": 30}, headers=auth(OWNER)
    )
    assert publisher.subjects() == ["ticket:created", "ticket:updated"]
    assert publisher.of("ticket:updated") == [
        {"id": ticket["id"], "version": 1, "title": "new", "price": 30, "userId": OWNER}
    ]


async def test_every_update_increments_the_version(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    ticket = await create(client, auth)
    for price in (21, 22, 23):
        response = await client.put(
            f"/api/tickets/{ticket['id']}", json={"title": "c", "price": price}, headers=auth(OWNER)
        )
        assert response.json()["version"] == price - 20
    assert [event["version"] for event in publisher.of("ticket:updated")] == [1, 2, 3]


async def test_a_reserved_ticket_cannot_be_edited(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    ticket = await create(client, auth)
    stored = await Ticket.get(ticket["id"])
    assert stored is not None
    stored.hold("f" * 24)
    await stored.save_next_version()

    response = await client.put(
        f"/api/tickets/{ticket['id']}", json={"title": "new", "price": 30}, headers=auth(OWNER)
    )
    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Cannot edit a reserved ticket"}]}
    after = await Ticket.get(ticket["id"])
    assert after is not None
    assert (after.title, after.version) == ("concert", 1)
    assert publisher.subjects() == ["ticket:created"]
