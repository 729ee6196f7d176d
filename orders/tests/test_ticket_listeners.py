"""The ticket replica: same ids as in tickets, only the next version applied."""

from collections.abc import Awaitable, Callable

from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import AsyncClient

from common.events.schemas import TicketCreated, TicketUpdated
from orders.events.listeners import TicketCreatedListener, TicketUpdatedListener
from orders.models import Ticket
from testsupport.doubles import FakeMsg
from testsupport.plugin import listener_of

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


async def deliver(
    listener: TicketCreatedListener | TicketUpdatedListener, event: object
) -> FakeMsg:
    msg = FakeMsg.of(event)
    await listener.handle(msg)
    return msg


async def replica(ticket_id: str) -> Ticket:
    ticket = await Ticket.get(ticket_id)
    assert ticket is not None
    return ticket


async def test_ticket_created_is_stored_under_the_same_id(app: FastAPI) -> None:
    ticket_id = str(PydanticObjectId())
    msg = await deliver(listener_of(app, TicketCreatedListener), created(ticket_id, "show", 15))
    assert msg.acked
    stored = await replica(ticket_id)
    assert (stored.title, stored.price_cents, stored.version) == ("show", 1500, 0)


async def test_repeated_ticket_created_is_harmless(app: FastAPI) -> None:
    ticket_id = str(PydanticObjectId())
    listener = listener_of(app, TicketCreatedListener)
    await deliver(listener, created(ticket_id, "show"))
    msg = await deliver(listener, created(ticket_id, "show"))
    assert msg.acked
    assert await Ticket.count() == 1


async def test_invalid_payload_is_terminated(app: FastAPI) -> None:
    msg = FakeMsg.of({"id": str(PydanticObjectId()), "title": "no price"})
    await listener_of(app, TicketCreatedListener).handle(msg)
    assert msg.termed
    assert await Ticket.count() == 0


async def test_ticket_updated_applies_the_next_version(
    app: FastAPI, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(title="old", price=10)
    msg = await deliver(listener_of(app, TicketUpdatedListener), updated(str(ticket.id), 1))
    assert msg.acked
    stored = await replica(str(ticket.id))
    assert (stored.title, stored.price_cents, stored.version) == ("new", 9900, 1)


async def test_ticket_updated_with_a_version_gap_is_not_acked(
    app: FastAPI, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(title="old")
    msg = await deliver(listener_of(app, TicketUpdatedListener), updated(str(ticket.id), 2))
    assert not msg.acked
    assert msg.naked  # redelivered later, after version 1
    stored = await replica(str(ticket.id))
    assert (stored.title, stored.version) == ("old", 0)


async def test_ticket_updated_before_ticket_created_is_not_acked(app: FastAPI) -> None:
    ticket_id = str(PydanticObjectId())
    msg = await deliver(listener_of(app, TicketUpdatedListener), updated(ticket_id, 1))
    assert msg.naked
    assert await Ticket.count() == 0


async def test_old_or_repeated_ticket_updated_is_acked_and_dropped(
    app: FastAPI, make_ticket: MakeTicket
) -> None:
    ticket = await make_ticket(title="old")
    listener = listener_of(app, TicketUpdatedListener)
    await deliver(listener, updated(str(ticket.id), 1, title="v1"))
    await deliver(listener, updated(str(ticket.id), 2, title="v2"))
    repeated = await deliver(listener, updated(str(ticket.id), 2, title="v2 again"))
    older = await deliver(listener, updated(str(ticket.id), 1, title="v1 again"))
    assert repeated.acked
    assert older.acked
    stored = await replica(str(ticket.id))
    assert (stored.title, stored.version) == ("v2", 2)


async def test_out_of_order_updates_converge(app: FastAPI, make_ticket: MakeTicket) -> None:
    ticket = await make_ticket(title="old")
    listener = listener_of(app, TicketUpdatedListener)
    early = await deliver(listener, updated(str(ticket.id), 2, title="v2"))
    assert early.naked
    await deliver(listener, updated(str(ticket.id), 1, title="v1"))
    redelivered = await deliver(listener, updated(str(ticket.id), 2, title="v2"))
    assert redelivered.acked
    assert (await replica(str(ticket.id))).title == "v2"


async def test_ticket_updated_does_not_touch_reservations(
    app: FastAPI, client: AsyncClient, auth: Auth, make_ticket: MakeTicket
) -> None:
    """tickets' lock (orderId set, then cleared) never frees or takes the orders' reservation."""
    ticket = await make_ticket()
    order = (
        await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    ).json()
    listener = listener_of(app, TicketUpdatedListener)
    await deliver(listener, updated(str(ticket.id), 1, order_id=order["id"]))
    await deliver(listener, updated(str(ticket.id), 2, order_id=None))

    again = await client.post("/api/orders", json={"ticketId": str(ticket.id)}, headers=auth())
    assert again.status_code == 400
    assert (await replica(str(ticket.id))).version == 2
