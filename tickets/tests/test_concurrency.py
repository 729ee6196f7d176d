"""Concurrent changes of one ticket: every change is stored as its own version, none is lost."""

import asyncio
from collections.abc import Callable

import pytest
from beanie import PydanticObjectId
from httpx import AsyncClient

from common.database import VersionConflict
from testsupport.doubles import RecordingPublisher
from testsupport.events import order_created
from testsupport.plugin import Deliver, stored
from tickets.events.listeners import OrderCreatedListener
from tickets.models import Ticket

Auth = Callable[..., dict[str, str]]
OWNER = "0123456789abcdef01234567"


@pytest.mark.usefixtures("app")
async def test_a_write_from_a_stale_read_is_rejected() -> None:
    ticket = await Ticket(title="concert", price_cents=500, user_id=OWNER).insert()
    first = await Ticket.get(ticket.id)
    second = await Ticket.get(ticket.id)
    assert first is not None
    assert second is not None
    first.price_cents = 1000
    await first.save_next_version()
    second.price_cents = 1500
    with pytest.raises(VersionConflict):
        await second.save_next_version()
    stored = await Ticket.get(ticket.id)
    assert stored is not None
    assert (stored.price_cents, stored.version) == (1000, 1)


async def test_concurrent_updates_are_each_stored_as_their_own_version(
    client: AsyncClient, auth: Auth, publisher: RecordingPublisher
) -> None:
    ticket = (
        await client.post("/api/tickets", json={"title": "t", "price": 1}, headers=auth(OWNER))
    ).json()
    headers = auth(OWNER)
    responses = await asyncio.gather(
        *[
            client.put(
                f"/api/tickets/{ticket['id']}", json={"title": f"t{n}", "price": n}, headers=headers
            )
            for n in range(2, 22)
        ]
    )
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 409}
    succeeded = [response.json() for response in responses if response.status_code == 200]
    assert succeeded

    # Each successful update got its own version and its own event; none overwrote another.
    assert sorted(body["version"] for body in succeeded) == list(range(1, len(succeeded) + 1))
    # A document's pending events can be sent by more than one flush; the event id
    # (`Nats-Msg-Id`) makes JetStream keep one copy, so count distinct ids.
    events = list(
        {e.msg_id: e.data for e in publisher.published if e.subject == "ticket:updated"}.values()
    )
    assert sorted(event["version"] for event in events) == list(range(1, len(succeeded) + 1))
    final = await stored(Ticket, ticket["id"])
    assert final.version == len(succeeded)
    last = max(events, key=lambda event: event["version"])
    assert (final.title, final.price_cents) == (last["title"], last["price"] * 100)


async def test_lock_and_owner_update_racing_never_lose_the_lock(
    client: AsyncClient, auth: Auth, deliver: Deliver
) -> None:
    headers = auth(OWNER)
    for _ in range(5):
        ticket = await Ticket(title="concert", price_cents=500, user_id=OWNER).insert()
        order_id = str(PydanticObjectId())
        event = order_created(order_id=order_id, ticket_id=str(ticket.id), price=5)
        update, msg = await asyncio.gather(
            client.put(
                f"/api/tickets/{ticket.id}", json={"title": "edited", "price": 9}, headers=headers
            ),
            deliver(event, to=OrderCreatedListener),
        )
        assert msg.acked
        locked = await stored(Ticket, ticket.id)
        assert locked.order_id == order_id
        if update.status_code == 200:  # the edit landed first, then the lock on top of it
            assert (locked.title, locked.version) == ("edited", 2)
        else:
            assert update.status_code == 400
            assert (locked.title, locked.version) == ("concert", 1)
