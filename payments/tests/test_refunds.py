"""A paid order that orders cancelled (the payment reached orders after the expiry, or the
cancellation raced the payment) is refunded by the order:cancelled listener, once, through
the Stripe stand-in."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import Response

from common.events.schemas import OrderCancelled
from common.events.subjects import OrderStatus
from payments.events.listeners.order_cancelled import OrderCancelledListener
from payments.models import CLAIM_STALE_SECONDS, Order, Payment, PaymentState
from payments.service import idempotency_key, refund_idempotency_key
from payments.stripe_gateway import StripeGateway
from testsupport.doubles import FakeMsg
from testsupport.events import order_cancelled
from testsupport.plugin import Deliver, listener_of, stored
from testsupport.servers import free_port

MakeOrder = Callable[..., Awaitable[Order]]
Pay = Callable[..., Awaitable[Response]]
AbandonAttempt = Callable[..., Awaitable[None]]


def cancelled(order: Order) -> OrderCancelled:
    return order_cancelled(str(order.id))


async def stored_payment(order: Order) -> Payment:
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    return payment


@pytest.mark.parametrize("token", ["tok_visa", "pm_card_visa"])
async def test_a_paid_order_that_orders_cancelled_is_refunded(
    make_paid_order: MakeOrder,
    deliver: Deliver,
    stripe: Any,
    caplog: pytest.LogCaptureFixture,
    token: str,
) -> None:
    order = await make_paid_order(token)

    with caplog.at_level(logging.WARNING, logger="payments"):
        msg = await deliver(cancelled(order), to=OrderCancelledListener)

    assert msg.acked
    (charge,) = stripe.charges_for(str(order.id))
    assert charge["refunded"] is True
    assert charge["amount_refunded"] == 4200
    (refund,) = stripe.refunds_of(charge["id"])
    assert (refund["amount"], refund["status"]) == (4200, "succeeded")
    assert refund["metadata"] == {"orderId": str(order.id)}
    payment = await stored_payment(order)
    assert (payment.refunded, payment.refund_id) == (True, refund["id"])
    assert (await stored(Order, order.id)).status == OrderStatus.CANCELLED
    assert any(
        "refunded" in record.getMessage() and str(order.id) in record.getMessage()
        for record in caplog.records
    )


async def test_a_redelivered_cancellation_does_not_refund_twice(
    make_paid_order: MakeOrder, deliver: Deliver, stripe: Any
) -> None:
    order = await make_paid_order("tok_visa")

    first = await deliver(cancelled(order), to=OrderCancelledListener)
    again = await deliver(cancelled(order), to=OrderCancelledListener, delivered=2)

    assert first.acked
    assert again.acked
    (charge,) = stripe.charges_for(str(order.id))
    assert len(stripe.refunds_of(charge["id"])) == 1


async def test_a_refund_whose_answer_was_lost_is_not_made_twice(
    app: FastAPI, make_paid_order: MakeOrder, deliver: Deliver, stripe: Any
) -> None:
    """Stripe refunded, but the handler died before storing it: the redelivery repeats the
    idempotency key and Stripe answers with the first refund."""
    order = await make_paid_order("tok_visa")
    payment = await stored_payment(order)
    gateway: StripeGateway = app.state.dependencies.payments.stripe
    first_refund = await gateway.refund(
        stripe_id=payment.stripe_id,
        order_id=str(order.id),
        idempotency_key=refund_idempotency_key(str(order.id)),
    )

    msg = await deliver(cancelled(order), to=OrderCancelledListener, delivered=2)

    assert msg.acked
    (charge,) = stripe.charges_for(str(order.id))
    assert [refund["id"] for refund in stripe.refunds_of(charge["id"])] == [first_refund]
    assert (await stored_payment(order)).refund_id == first_refund


async def test_an_unpaid_cancelled_order_is_not_refunded(
    make_order: MakeOrder, deliver: Deliver, stripe: Any
) -> None:
    order = await make_order()

    msg = await deliver(cancelled(order), to=OrderCancelledListener)

    assert msg.acked
    assert stripe.all_refunds() == []
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None


class CancelledDuringTheCharge(StripeGateway):
    """order:cancelled is handled while the Stripe charge is on its way."""

    def __init__(self, real: StripeGateway, deliver: Callable[[], Any]) -> None:
        self.real = real
        self.deliver = deliver

    async def charge(self, *, token: str, amount: int, order_id: str, idempotency_key: str) -> str:
        await self.deliver()
        return await self.real.charge(
            token=token, amount=amount, order_id=order_id, idempotency_key=idempotency_key
        )

    async def refund(self, *, stripe_id: str, order_id: str, idempotency_key: str) -> str | None:
        return await self.real.refund(
            stripe_id=stripe_id, order_id=order_id, idempotency_key=idempotency_key
        )

    async def close(self) -> None:
        await self.real.close()


async def test_a_cancellation_during_a_payment_waits_for_it_then_refunds(
    app: FastAPI,
    pay: Pay,
    order: Order,
    deliver: Deliver,
    stripe: Any,
) -> None:
    during = FakeMsg.of(cancelled(order))
    listener = listener_of(app, OrderCancelledListener)
    app.state.dependencies.payments.stripe = CancelledDuringTheCharge(
        app.state.dependencies.stripe, lambda: listener.handle(during)
    )

    response = await pay(order, "tok_visa")

    assert response.status_code == 201, response.text
    assert during.naked, "left for redelivery while the payment's outcome is unknown"
    assert not during.acked
    replica = await stored(Order, order.id)
    assert (replica.status, replica.payment_state) == (OrderStatus.CANCELLED, PaymentState.PAID)
    (charge,) = stripe.charges_for(str(order.id))
    assert stripe.refunds_of(charge["id"]) == []

    redelivered = await deliver(cancelled(order), to=OrderCancelledListener, delivered=2)

    assert redelivered.acked
    assert len(stripe.refunds_of(charge["id"])) == 1
    assert (await stored_payment(order)).refunded


@pytest.mark.parametrize("charged_before_dying", [True, False])
async def test_a_cancelled_order_whose_paying_request_died_is_settled_and_refunded(
    app: FastAPI,
    make_order: MakeOrder,
    abandon_attempt: AbandonAttempt,
    deliver: Deliver,
    stripe: Any,
    charged_before_dying: bool,
) -> None:
    """The request died mid-charge (its claim is no longer renewed): the cancellation asks
    Stripe about the attempt, records what it charged, and gives it back."""
    order = await make_order(price=42)
    key = idempotency_key(str(order.id), 0)
    if charged_before_dying:
        await app.state.dependencies.payments.stripe.charge(
            token="tok_visa", amount=4200, order_id=str(order.id), idempotency_key=key
        )
    await abandon_attempt(order, "tok_visa", renewed_ago=CLAIM_STALE_SECONDS + 1)

    msg = await deliver(cancelled(order), to=OrderCancelledListener)

    assert msg.acked
    (charge,) = stripe.charges_for(str(order.id))
    (refund,) = stripe.refunds_of(charge["id"])
    assert refund["amount"] == 4200
    payment = await stored_payment(order)
    assert (payment.stripe_id, payment.refunded) == (charge["id"], True)
    replica = await stored(Order, order.id)
    assert (replica.status, replica.payment_state) == (
        OrderStatus.CANCELLED,
        PaymentState.REFUNDED,
    )


async def test_a_cancelled_order_whose_dead_request_was_declined_is_left_alone(
    make_order: MakeOrder, abandon_attempt: AbandonAttempt, deliver: Deliver, stripe: Any
) -> None:
    order = await make_order()
    await abandon_attempt(order, "tok_chargeDeclined", renewed_ago=CLAIM_STALE_SECONDS + 1)

    msg = await deliver(cancelled(order), to=OrderCancelledListener)

    assert msg.acked
    assert stripe.succeeded_for(str(order.id)) == []
    assert stripe.all_refunds() == []
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None
    replica = await stored(Order, order.id)
    assert (replica.payment_state, replica.payment_attempt) == (None, 1)


async def test_stripe_unreachable_during_a_refund_is_retried(
    app: FastAPI, make_paid_order: MakeOrder, deliver: Deliver, stripe: Any
) -> None:
    order = await make_paid_order("tok_visa")
    listener = listener_of(app, OrderCancelledListener)
    assert listener.payments is not None
    real = listener.payments.stripe
    unreachable = StripeGateway(
        "sk_test_x", f"http://127.0.0.1:{free_port()}", timeout=2, max_network_retries=0
    )
    listener.payments.stripe = unreachable

    try:
        first = await deliver(cancelled(order), to=OrderCancelledListener)
    finally:
        listener.payments.stripe = real
        await unreachable.close()

    assert first.naked
    assert not first.acked
    assert not (await stored_payment(order)).refunded
    replica = await stored(Order, order.id)
    assert replica.status == OrderStatus.CANCELLED, "the cancellation itself is stored"

    again = await deliver(cancelled(order), to=OrderCancelledListener, delivered=2)

    assert again.acked
    (charge,) = stripe.charges_for(str(order.id))
    assert len(stripe.refunds_of(charge["id"])) == 1
    assert (await stored_payment(order)).refunded
