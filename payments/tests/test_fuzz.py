"""The payments API under fuzzing (schemathesis, from its OpenAPI): whatever the request, the
answer is never a 5xx, and every 4xx is in the error shape (see `testsupport.fuzzing`).
Charges go to the Stripe stand-in."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import schemathesis
from beanie import PydanticObjectId
from fastapi import FastAPI
from hypothesis import settings

from common.events.subjects import OrderStatus
from payments.app import SERVICE
from payments.models import Order
from testsupport.fuzzing import (
    FUZZ_EXAMPLES,
    FUZZ_SETTINGS,
    ValidCall,
    check_call,
    check_hostile_text,
    load_schema,
    with_startup,
)

BUYER = "a1b2c3d4e5f6a1b2c3d4e5f6"
"""The signed-in user of the fuzzed requests."""
OTHER_BUYER = "f6e5d4c3b2a1f6e5d4c3b2a1"
PAYABLE_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa1")
CANCELLED_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa2")
EXPIRED_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa3")
OTHER_BUYERS_ORDER = PydanticObjectId("6560f0c2a1b2c3d4e5f6aaa4")
KNOWN_ORDERS = [str(o) for o in (PAYABLE_ORDER, CANCELLED_ORDER, EXPIRED_ORDER, OTHER_BUYERS_ORDER)]
CARDS = ["tok_visa", "pm_card_visa", "tok_chargeDeclined"]

schema = load_schema(
    SERVICE,
    bodies=[
        *({"orderId": order} for order in KNOWN_ORDERS),
        *({"orderId": order, "token": card} for order in KNOWN_ORDERS for card in CARDS),
    ],
)


@pytest.fixture
def fuzz_app(unstarted_app: FastAPI) -> FastAPI:
    """The service on a fresh database holding orders of the buyer's (payable, cancelled,
    run out) and one of another buyer's (started by schemathesis)."""

    async def store_orders() -> None:
        now = datetime.now(UTC)
        for order_id, user_id, status, expires_at in [
            (PAYABLE_ORDER, BUYER, OrderStatus.CREATED, now + timedelta(minutes=15)),
            (CANCELLED_ORDER, BUYER, OrderStatus.CANCELLED, now + timedelta(minutes=15)),
            (EXPIRED_ORDER, BUYER, OrderStatus.CREATED, now - timedelta(minutes=1)),
            (OTHER_BUYERS_ORDER, OTHER_BUYER, OrderStatus.CREATED, now + timedelta(minutes=15)),
        ]:
            await Order(
                id=order_id,
                user_id=user_id,
                price_cents=2000,
                status=status,
                version=0,
                expires_at=expires_at,
            ).insert()

    return with_startup(unstarted_app, store_orders)


@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=FUZZ_EXAMPLES * 3)
def test_every_answer_is_in_the_contract(
    case: schemathesis.Case, fuzz_app: FastAPI, signin: Callable[..., dict[str, str]]
) -> None:
    """Generated requests, some for stored orders and with test cards (so that they reach
    the ownership, state and Stripe steps), signed in as the buyer. More cases than for
    other services: this one operation is the whole API."""
    check_call(case, fuzz_app, signin(BUYER))


def test_hostile_text_in_any_field_is_refused_or_harmless(
    fuzz_app: FastAPI, signin: Callable[..., dict[str, str]]
) -> None:
    calls = [ValidCall("POST /api/payments", {"orderId": str(PAYABLE_ORDER), "token": "tok_visa"})]
    check_hostile_text(schema, fuzz_app, calls, signin(BUYER))
