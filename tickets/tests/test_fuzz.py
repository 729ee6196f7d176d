"""The tickets API under fuzzing (schemathesis, from its OpenAPI): whatever the request, the
answer is never a 5xx, and every 4xx is in the error shape (see `testsupport.fuzzing`)."""

from collections.abc import Callable

import pytest
import schemathesis
from beanie import PydanticObjectId
from fastapi import FastAPI

from testsupport.fuzzing import (
    FUZZ_SETTINGS,
    ValidCall,
    check_call,
    check_hostile_text,
    load_schema,
    run_stateful,
    with_startup,
)
from tickets.app import SERVICE
from tickets.models import Ticket

SELLER = "a1b2c3d4e5f6a1b2c3d4e5f6"
"""The signed-in user of the fuzzed requests."""
OTHER_SELLER = "f6e5d4c3b2a1f6e5d4c3b2a1"
SELLERS_TICKET = PydanticObjectId("6560f0c2a1b2c3d4e5f60001")
OTHER_SELLERS_TICKET = PydanticObjectId("6560f0c2a1b2c3d4e5f60002")
RESERVED_TICKET = PydanticObjectId("6560f0c2a1b2c3d4e5f60003")
HOLDING_ORDER = "6560f0c2a1b2c3d4e5f6aaaa"


schema = load_schema(
    SERVICE,
    path_parameters={
        "ticket_id": [str(t) for t in (SELLERS_TICKET, OTHER_SELLERS_TICKET, RESERVED_TICKET)]
    },
    bodies=[{"title": "Jazz night, second set", "price": 25}],
)


@pytest.fixture
def fuzz_app(unstarted_app: FastAPI) -> FastAPI:
    """The service on a fresh database holding a ticket of the seller's, one of another
    seller's and a reserved one of the seller's (started by schemathesis, not here)."""

    async def store_tickets() -> None:
        await Ticket(
            id=SELLERS_TICKET, title="Jazz night", price_cents=2000, user_id=SELLER
        ).insert()
        await Ticket(
            id=OTHER_SELLERS_TICKET, title="Opera", price_cents=4550, user_id=OTHER_SELLER
        ).insert()
        await Ticket(
            id=RESERVED_TICKET,
            title="Derby",
            price_cents=1200,
            user_id=SELLER,
            order_id=HOLDING_ORDER,
            held_by=[HOLDING_ORDER],
        ).insert()

    return with_startup(unstarted_app, store_tickets)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_answer_is_in_the_contract(
    case: schemathesis.Case,
    fuzz_app: FastAPI,
    signin: Callable[..., dict[str, str]],
) -> None:
    """Generated requests, some of them about stored tickets (so that updates reach the
    ownership and reservation rules), signed in as the seller."""
    check_call(case, fuzz_app, signin(SELLER))


def test_linked_calls_are_in_the_contract(
    fuzz_app: FastAPI, signin: Callable[..., dict[str, str]]
) -> None:
    """Create tickets, then read, list and update them, with generated bodies."""
    run_stateful(schema, fuzz_app, signin(SELLER))


def test_hostile_text_in_any_field_is_refused_or_harmless(
    fuzz_app: FastAPI, signin: Callable[..., dict[str, str]]
) -> None:
    body = {"title": "Jazz night", "price": 20}
    calls = [
        ValidCall("POST /api/tickets", body),
        ValidCall("PUT /api/tickets/{ticket_id}", body, {"ticket_id": str(SELLERS_TICKET)}),
    ]
    check_hostile_text(schema, fuzz_app, calls, signin(SELLER))
