"""The orders API under fuzzing (schemathesis, from its OpenAPI): whatever the request, the
answer is never a 5xx, and every 4xx is in the error shape (see `testsupport.fuzzing`)."""

from collections.abc import Callable

import pytest
import schemathesis
from beanie import PydanticObjectId
from fastapi import FastAPI

from common.events.subjects import OrderStatus
from orders.app import SERVICE
from orders.models import Order, Ticket, expiry_after
from testsupport.fuzzing import (
    FUZZ_SETTINGS,
    ValidCall,
    check_call,
    check_hostile_text,
    load_schema,
    run_stateful,
    with_startup,
)

BUYER = "a1b2c3d4e5f6a1b2c3d4e5f6"
"""The signed-in user of the fuzzed requests."""
OTHER_BUYER = "f6e5d4c3b2a1f6e5d4c3b2a1"
FREE_TICKETS = [PydanticObjectId(f"6560f0c2a1b2c3d4e5f6000{n}") for n in range(1, 6)]
RESERVED_TICKET = PydanticObjectId("6560f0c2a1b2c3d4e5f60009")
BUYERS_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa1")
COMPLETE_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa2")
OTHER_BUYERS_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa3")
KNOWN_TICKETS = [str(ticket) for ticket in [*FREE_TICKETS, RESERVED_TICKET]]
KNOWN_ORDERS = [str(order) for order in [BUYERS_ORDER, COMPLETE_ORDER, OTHER_BUYERS_ORDER]]


schema = load_schema(
    SERVICE,
    path_parameters={"order_id": KNOWN_ORDERS},
    bodies=[{"ticketId": ticket} for ticket in KNOWN_TICKETS],
)


@pytest.fixture
def fuzz_app(unstarted_app: FastAPI) -> FastAPI:
    """The service on a fresh database holding free tickets, and orders of the buyer's
    (one holding a ticket, one complete) and of another buyer's (started by schemathesis)."""

    async def store_tickets_and_orders() -> None:
        for ticket_id in [*FREE_TICKETS, RESERVED_TICKET]:
            await Ticket(id=ticket_id, title="Jazz night", price_cents=2000, version=0).insert()
        reserved = await Ticket.get(RESERVED_TICKET)
        assert reserved is not None
        for order_id, user_id, status in [
            (BUYERS_ORDER, BUYER, OrderStatus.CREATED),
            (COMPLETE_ORDER, BUYER, OrderStatus.COMPLETE),
            (OTHER_BUYERS_ORDER, OTHER_BUYER, OrderStatus.CREATED),
        ]:
            order = Order.reserve(reserved, user_id, expiry_after(900))
            order.id, order.status = order_id, status
            if order_id != BUYERS_ORDER:
                order.reservation = str(order_id)  # only one order holds the ticket
            await order.insert()

    return with_startup(unstarted_app, store_tickets_and_orders)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_answer_is_in_the_contract(
    case: schemathesis.Case,
    fuzz_app: FastAPI,
    signin: Callable[..., dict[str, str]],
) -> None:
    """Generated requests, some about stored tickets and orders (so that they reach the
    reservation and ownership rules), signed in as the buyer."""
    check_call(case, fuzz_app, signin(BUYER))


def test_linked_calls_are_in_the_contract(
    fuzz_app: FastAPI, signin: Callable[..., dict[str, str]]
) -> None:
    """Order tickets, then read, list and cancel the orders, with generated requests."""
    run_stateful(schema, fuzz_app, signin(BUYER))


def test_hostile_text_in_any_field_is_refused_or_harmless(
    fuzz_app: FastAPI, signin: Callable[..., dict[str, str]]
) -> None:
    calls = [ValidCall("POST /api/orders", {"ticketId": str(FREE_TICKETS[0])})]
    check_hostile_text(schema, fuzz_app, calls, signin(BUYER))
