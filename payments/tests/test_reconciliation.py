"""The background reconciliation: attempts whose holder died are settled by asking Stripe,
cancelled orders still paid are refunded, and live attempts are left to their holder."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import Response

from common.events.subjects import OrderStatus, Subjects
from payments import models, service
from payments.models import CLAIM_STALE_SECONDS, Order, Payment, PaymentState
from payments.service import PaymentService, idempotency_key
from payments.stripe_gateway import StripeGateway
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import stored

MakeOrder = Callable[..., Awaitable[Order]]
Pay = Callable[..., Coroutine[Any, Any, Response]]
AbandonAttempt = Callable[..., Awaitable[None]]


async def replica(order: Order) -> Order:
    return await stored(Order, order.id)


@pytest.mark.parametrize("charged_before_dying", [True, False])
async def test_an_abandoned_attempt_is_recorded_published_and_the_order_paid(
    app: FastAPI,
    make_order: MakeOrder,
    abandon_attempt: AbandonAttempt,
    stripe: Any,
    publisher: RecordingPublisher,
    charged_before_dying: bool,
) -> None:
    payments: PaymentService = app.state.dependencies.payments
    order = await make_order(price=31)
    if charged_before_dying:
        await payments.stripe.charge(
            token="tok_visa",
            amount=3100,
            order_id=str(order.id),
            idempotency_key=idempotency_key(str(order.id), 0),
        )
    await abandon_attempt(order, "tok_visa", renewed_ago=CLAIM_STALE_SECONDS + 1)

    report = await payments.reconcile()

    assert report.recorded == [str(order.id)]
    (charge,) = stripe.succeeded_for(str(order.id))
    assert charge["amount"] == 3100
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert payment.stripe_id == charge["id"]
    assert publisher.of(Subjects.PAYMENT_CREATED) == [
        {"id": str(payment.id), "orderId": payment.order_id, "stripeId": payment.stripe_id}
    ]
    assert (await replica(order)).payment_state == PaymentState.PAID
    assert not (await payments.reconcile()), "a second pass has nothing left to do"
    assert len(stripe.charges_for(str(order.id))) == 1


async def test_an_abandoned_declined_attempt_frees_the_order(
    app: FastAPI,
    make_order: MakeOrder,
    abandon_attempt: AbandonAttempt,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    order = await make_order()
    await abandon_attempt(order, "tok_chargeDeclined", renewed_ago=CLAIM_STALE_SECONDS + 1)

    report = await app.state.dependencies.payments.reconcile()

    assert report.released == [str(order.id)]
    stored = await replica(order)
    assert (stored.payment_state, stored.payment_token, stored.payment_attempt) == (None, None, 1)
    assert stripe.succeeded_for(str(order.id)) == []
    assert publisher.published == []


async def test_a_live_attempt_is_left_to_its_holder(
    app: FastAPI, make_order: MakeOrder, abandon_attempt: AbandonAttempt, stripe: Any
) -> None:
    order = await make_order()
    await abandon_attempt(order, "tok_visa", renewed_ago=1)

    report = await app.state.dependencies.payments.reconcile()

    assert not report
    assert (await replica(order)).payment_state == PaymentState.PAYING
    assert stripe.charges_for(str(order.id)) == []


async def test_an_abandoned_attempt_of_a_cancelled_order_is_recorded_and_refunded(
    app: FastAPI, make_order: MakeOrder, abandon_attempt: AbandonAttempt, stripe: Any
) -> None:
    order = await make_order(price=12, status=OrderStatus.CANCELLED, version=1)
    await abandon_attempt(order, "pm_card_visa", renewed_ago=CLAIM_STALE_SECONDS + 1)

    report = await app.state.dependencies.payments.reconcile()

    assert (report.recorded, report.refunded) == ([str(order.id)], [str(order.id)])
    (charge,) = stripe.charges_for(str(order.id))
    assert charge["amount_refunded"] == 1200
    assert (await replica(order)).payment_state == PaymentState.REFUNDED


async def test_a_cancelled_order_still_paid_is_refunded(
    app: FastAPI, make_paid_order: MakeOrder, stripe: Any
) -> None:
    """E.g. the order:cancelled listener gave up on its refund (Stripe was down for longer
    than its redeliveries): the next pass gives the money back."""
    order = await make_paid_order("tok_visa", price=8)
    await Order.get_pymongo_collection().update_one(
        {"_id": order.id}, {"$set": {"status": "cancelled", "version": 1}}
    )

    report = await app.state.dependencies.payments.reconcile()

    assert report.refunded == [str(order.id)]
    (charge,) = stripe.charges_for(str(order.id))
    assert charge["refunded"] is True
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert payment.refunded
    assert not (await app.state.dependencies.payments.reconcile())


class SlowStripe(StripeGateway):
    """Stripe takes `delay` seconds to answer a charge."""

    def __init__(self, real: StripeGateway, delay: float) -> None:
        self.real = real
        self.delay = delay

    async def charge(self, *, token: str, amount: int, order_id: str, idempotency_key: str) -> str:
        await asyncio.sleep(self.delay)
        return await self.real.charge(
            token=token, amount=amount, order_id=order_id, idempotency_key=idempotency_key
        )

    async def close(self) -> None:
        await self.real.close()


async def test_a_slow_charge_keeps_renewing_its_claim_so_it_is_not_settled_behind_its_back(
    app: FastAPI,
    pay: Pay,
    order: Order,
    stripe: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(models, "CLAIM_STALE_SECONDS", 0.5)
    payments: PaymentService = app.state.dependencies.payments
    payments.stripe = SlowStripe(payments.stripe, delay=1.5)

    paying = asyncio.create_task(pay(order, "tok_visa"))
    await asyncio.sleep(1.0)  # twice the staleness limit into the charge
    during = await replica(order)
    stale_during = during.claim_is_stale()
    report = await payments.reconcile()
    response = await paying

    assert during.payment_state == PaymentState.PAYING
    assert not stale_during
    assert not report, "the live attempt was not touched"
    assert response.status_code == 201, response.text
    assert len(stripe.charges_for(str(order.id))) == 1
