"""The ticket replica: same ids as in tickets, only the next version applied."""

from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId
from httpx import AsyncClient

from common.events.schemas import TicketCreated, TicketUpdated
from orders.events.listeners import TicketCreatedListener, TicketUpdatedListener
from orders.models import Ticket
from testsupport.plugin import Deliver, stored

Auth = Callable[..., dict[str, str]]
MakeTicket = Callable[..., Awaitable[Ticket]]
OWNER = "0123456789abcdef01234567"


def created(ticket_id: str, title: str = "concert", price: float = 10) -> TicketCreated:
    return TicketCreated(id=ticket_id, version=0, title=title, price=price, user_id=OWNER)


def updated(
    ticket_id: str, version: int, title: str = "new", order_id: str | None = None
) -> TicketUpdated:
    return TicketUpdated(
        id=ticket_id, version=version, title=title, price=99, user_id=OWNER, order_id=order_id
    )


async def test_ticket_created_is_stored_under_the_same_id(deliver: Deliver) -> None:
    ticket_id = str(PydanticObjectId())
    msg = await deliver(created(ticket_id, "show", 15), to=TicketCreatedListener)
    assert msg.acked
    replica = await stored(Ticket, ticket_id)
    assert (replica.title, replica.price_cents, replica.version) == ("show", 1500, 0)


async def test_repeated_ticket_created_is_harmless(deliver: Deliver) -> None:
    ticket_id = str(PydanticObjectId())
    await deliver(created(ticket_id, "show"), to=TicketCreatedListener)
    msg = await deliver(created(ticket_id, "show"), to=TicketCreatedListener)
    assert msg.acked
    assert await Ticket.count() == 1


async def test_invalid_payload_is_terminated(deliver: Deliver) -> None:
    no_price = {"id": str(PydanticObjectId()), "title": "no price"}
    msg = await deliver(no_price, to=TicketCreatedListener)
    assert msg.termed
    assert await Ticket.count() == 0


async def test_a_ticket_created_with_a_malformed_id_is_acked_and_not_stored(
    deliver: Deliver,
) -> None:
    msg = await deliver(created("not-an-object-id"), to=TicketCreatedListener)
    assert msg.acked
    assert await Ticket.count() == 0


async def test_ticket_updated_applies_the_next_version(
    deliver: Deliver, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(title="old", price=10)
    msg = await deliver(updated(str(ticket.id), 1), to=TicketUpdatedListener)
    assert msg.acked
    replica = await stored(Ticket, str(ticket.id))
    assert (replica.title, replica.price_cents, replica.version) == ("new", 9900, 1)


async def test_ticket_updated_with_a_version_gap_is_not_acked(
    deliver: Deliver, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(title="old")
    msg = await deliver(updated(str(ticket.id), 2), to=TicketUpdatedListener)
    assert not msg.acked
    assert msg.naked  # redelivered later, after version 1
    replica = await stored(Ticket, str(ticket.id))
    assert (replica.title, replica.version) == ("old", 0)


async def test_ticket_updated_before_ticket_created_is_not_acked(deliver: Deliver) -> None:
    ticket_id = str(PydanticObjectId())
    msg = await deliver(updated(ticket_id, 1), to=TicketUpdatedListener)
    assert msg.naked
    assert await Ticket.count() == 0


async def test_old_or_repeated_ticket_updated_is_acked_and_dropped(
    deliver: Deliver, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(title="old")
    await deliver(updated(str(ticket.id), 1, title="v1"), to=TicketUpdatedListener)
    await deliver(updated(str(ticket.id), 2, title="v2"), to=TicketUpdatedListener)
    repeated = await deliver(updated(str(ticket.id), 2, title="v2 again"), to=TicketUpdatedListener)
    older = await deliver(updated(str(ticket.id), 1, title="v1 again"), to=TicketUpdatedListener)
    assert repeated.acked
    assert older.acked
    replica = await stored(Ticket, str(ticket.id))
    assert (replica.title, replica.version) == ("v2", 2)


async def test_out_of_order_updates_converge(deliver: Deliver, make_ticket: MakeTicket) -> None:
    ticket = await make_ticket(title="old")
    early = await deliver(updated(str(ticket.id), 2, title="v2"), to=TicketUpdatedListener)
    assert early.naked
    await deliver(updated(str(ticket.id), 1, title="v1"), to=TicketUpdatedListener)
    redelivered = await deliver(updated(str(ticket.id), 2, title="v2"), to=TicketUpdatedListener)
    assert redelivered.acked
    assert (await stored(Ticket, str(ticket.id))).title == "v2"


async def test_ticket_updated_does_not_touch_reservations(
    order: dict[str, Any], ticket: Ticket, deliver: Deliver, client: AsyncClient, auth: Auth
) -> None:
    """tickets' lock (orderId set, then cleared) never frees or takes the orders' reservation."""
    await deliver(updated(str(ticket.id), 1, order_id=order["id"]), to=TicketUpdatedListener)
    await deliver(updated(str(ticket.id), 2, order_id=None), to=TicketUpdatedListener)

    again = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert again.status_code == 400
    assert (await stored(Ticket, str(ticket.id))).version == 2
