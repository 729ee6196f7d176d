"""An order is charged at most once, and a charge is never forgotten: simultaneous requests,
a retry after a lost answer, a request that died holding the claim, Stripe unreachable."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import Response

from common.events.subjects import Subjects
from payments.app import service as payments_service
from payments.models import Order, Payment, PaymentState
from payments.service import IN_PROGRESS, KEY_REUSED, NOT_CONFIRMED, idempotency_key
from payments.settings import PaymentsSettings
from payments.stripe_gateway import PaymentKeyReused, PaymentOutcomeUnknown, StripeGateway
from testsupport.apps import serving
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import outbox_of, stored
from testsupport.servers import free_port

Headers = Callable[..., dict[str, str]]
Pay = Callable[..., Awaitable[Response]]
AbandonAttempt = Callable[..., Awaitable[None]]
URL = "/api/payments"


async def test_simultaneous_payments_for_one_order_charge_once(
    pay: Pay, order: Order, stripe: Any, publisher: RecordingPublisher
) -> None:
    tokens = ["tok_visa", "pm_card_visa", "tok_visa", "pm_card_visa", "tok_visa"]

    responses = await asyncio.gather(*(pay(order, token) for token in tokens))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 400, 400, 400, 400], [r.text for r in responses]
    refused = {r.json()["errors"][0]["message"] for r in responses if r.status_code == 400}
    assert refused <= {
        "A payment for this order is already in progress",
        "This order has already been paid for",
    }
    assert len(stripe.charges_for(str(order.id))) == 1
    assert await Payment.find(Payment.order_id == str(order.id)).count() == 1
    assert len(publisher.of(Subjects.PAYMENT_CREATED)) == 1


class LosesFirstAnswer(StripeGateway):
    """Stripe charges, but the first answer is lost on the way back (a timeout)."""

    def __init__(self, real: StripeGateway) -> None:
        self.real = real
        self.keys: list[str] = []
        self.ids: list[str] = []

    async def charge(self, *, token: str, amount: int, order_id: str, idempotency_key: str) -> str:
        self.keys.append(idempotency_key)
        stripe_id = await self.real.charge(
            token=token, amount=amount, order_id=order_id, idempotency_key=idempotency_key
        )
        self.ids.append(stripe_id)
        if len(self.ids) == 1:
            raise PaymentOutcomeUnknown("read timed out")
        return stripe_id

    async def close(self) -> None:
        await self.real.close()


async def test_a_lost_answer_is_a_503_and_the_retry_records_the_first_charge(
    app: FastAPI, pay: Pay, order: Order, stripe: Any
) -> None:
    gateway = LosesFirstAnswer(app.state.dependencies.payments.stripe)
    app.state.dependencies.payments.stripe = gateway

    lost = await pay(order, "tok_visa")
    replica = await stored(Order, order.id)
    retried = await pay(order, "pm_card_visa")

    assert lost.status_code == 503
    assert lost.json() == {"errors": [{"message": NOT_CONFIRMED}]}
    assert replica.payment_state == PaymentState.PAYING, "the attempt is kept to be settled"
    assert (replica.payment_token, replica.payment_attempt) == ("tok_visa", 0)
    assert retried.status_code == 201, retried.text
    assert gateway.keys == [idempotency_key(str(order.id), 0)] * 2
    assert gateway.ids[0] == gateway.ids[1], "Stripe answered the retry with the first charge"
    assert len(stripe.charges_for(str(order.id))) == 1
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert payment.stripe_id == gateway.ids[0]
    assert retried.json() == {"id": str(payment.id)}


async def test_the_idempotency_key_reaches_stripe(
    app: FastAPI, make_order: Any, stripe: Any
) -> None:
    order = await make_order(price=12.5)
    gateway: StripeGateway = app.state.dependencies.payments.stripe
    key = idempotency_key(str(order.id), 0)

    charges = [
        await gateway.charge(token=token, amount=1250, order_id=str(order.id), idempotency_key=key)
        for token in ("tok_visa", "tok_visa")
    ]

    assert charges[0] == charges[1]
    assert len(stripe.charges_for(str(order.id))) == 1
    assert idempotency_key(str(order.id), 1) != key


@pytest.mark.parametrize("charged_before_dying", [True, False])
async def test_a_retry_settles_an_attempt_whose_holder_died_at_once(
    app: FastAPI,
    pay: Pay,
    order: Order,
    abandon_attempt: AbandonAttempt,
    stripe: Any,
    publisher: RecordingPublisher,
    charged_before_dying: bool,
) -> None:
    """No lease to wait out: the retry asks Stripe about the held attempt (same key, same
    card) and records what it did, or does it now if it never reached Stripe."""
    first_charge = None
    if charged_before_dying:
        first_charge = await app.state.dependencies.payments.stripe.charge(
            token="tok_visa",
            amount=2000,
            order_id=str(order.id),
            idempotency_key=idempotency_key(str(order.id), 0),
        )
    await abandon_attempt(order, "tok_visa", renewed_ago=1)

    retried = await pay(order, "pm_card_visa")

    assert retried.status_code == 201, retried.text
    (charge,) = stripe.succeeded_for(str(order.id))
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert payment.stripe_id == charge["id"]
    if first_charge is not None:
        assert payment.stripe_id == first_charge
    assert publisher.of(Subjects.PAYMENT_CREATED) == [
        {"id": str(payment.id), "orderId": payment.order_id, "stripeId": payment.stripe_id}
    ]
    assert (await stored(Order, order.id)).payment_state == PaymentState.PAID


async def test_a_retry_while_the_holder_is_still_charging_is_refused_as_in_progress(
    app: FastAPI,
    pay: Pay,
    order: Order,
    abandon_attempt: AbandonAttempt,
    stripe: Any,
) -> None:
    """Stripe says the held attempt is still running (409): so do we, and nothing more is
    charged."""
    await abandon_attempt(order, "tok_visa", renewed_ago=0)
    app.state.dependencies.payments.stripe = StillRunningAtStripe()

    response = await pay(order, "tok_visa")

    assert response.status_code == 400
    assert response.json()["errors"] == [{"message": IN_PROGRESS}]
    replica = await stored(Order, order.id)
    assert (replica.payment_state, replica.payment_attempt) == (PaymentState.PAYING, 0)
    assert stripe.charges_for(str(order.id)) == []


class StillRunningAtStripe(StripeGateway):
    def __init__(self) -> None:
        pass

    async def charge(self, *, token: str, amount: int, order_id: str, idempotency_key: str) -> str:
        raise PaymentOutcomeUnknown("409 idempotency_error: request in progress")

    async def close(self) -> None:
        pass


async def test_stripe_unreachable_is_a_503_and_the_attempt_is_settled_once_it_is_back(
    settings: PaymentsSettings,
    auth: Headers,
    publisher: RecordingPublisher,
    stripe: Any,
) -> None:
    unreachable = settings.model_copy(update={"STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"})
    app = payments_service(reconcile_interval=3600).create_app(unreachable, publisher=publisher)
    user_id = str(PydanticObjectId())
    async with serving(app) as client:
        order = await Order(
            id=PydanticObjectId(), user_id=user_id, price_cents=500, status="created", version=0
        ).insert()
        response = await client.post(
            URL, json={"token": "tok_visa", "orderId": str(order.id)}, headers=auth(user_id)
        )
        replica = await Order.get(order.id)
        recorded_then = await Payment.find_one(Payment.order_id == str(order.id))

        # Stripe is back, and the request's holder is long gone.
        real = StripeGateway(settings.STRIPE_KEY, settings.STRIPE_API_BASE)
        app.state.dependencies.payments.stripe = real
        await Order.get_pymongo_collection().update_one(
            {"_id": order.id}, {"$set": {"payment_heartbeat_at": time.time() - 60}}
        )
        report = await app.state.dependencies.payments.reconcile()
        await real.close()
        settled = await Order.get(order.id)
        recorded = await Payment.find_one(Payment.order_id == str(order.id))

    assert response.status_code == 503
    assert response.json() == {"errors": [{"message": NOT_CONFIRMED}]}
    assert replica is not None
    assert (replica.payment_state, replica.payment_token) == (PaymentState.PAYING, "tok_visa")
    assert recorded_then is None
    assert report.recorded == [str(order.id)]
    assert settled is not None
    assert settled.payment_state == PaymentState.PAID
    assert recorded is not None
    (charge,) = stripe.succeeded_for(str(order.id))
    assert (recorded.stripe_id, charge["amount"]) == (charge["id"], 500)
    assert publisher.of(Subjects.PAYMENT_CREATED) == [
        {"id": str(recorded.id), "orderId": recorded.order_id, "stripeId": recorded.stripe_id}
    ]


async def test_a_payment_made_while_nats_is_down_is_published_later(
    app: FastAPI, pay: Pay, order: Order, publisher: RecordingPublisher
) -> None:
    publisher.fail = True

    response = await pay(order, "tok_visa")

    assert response.status_code == 201
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert [event.subject for event in payment.outbox] == [Subjects.PAYMENT_CREATED.value]
    assert (await stored(Order, order.id)).payment_state == PaymentState.PAID

    publisher.fail = False
    assert await outbox_of(app).drain_once(grace=0) == 1
    assert publisher.of(Subjects.PAYMENT_CREATED) == [
        {"id": str(payment.id), "orderId": payment.order_id, "stripeId": payment.stripe_id}
    ]


class RefusesTheKey(StripeGateway):
    """Stripe refuses the key: an earlier attempt used it with other parameters. (The
    stand-in replays keys without comparing parameters, so this answer is played here.)"""

    def __init__(self) -> None:
        self.keys: list[str] = []

    async def charge(self, *, token: str, amount: int, order_id: str, idempotency_key: str) -> str:
        self.keys.append(idempotency_key)
        raise PaymentKeyReused("Keys for idempotent requests can only be used once")

    async def close(self) -> None:
        pass


async def test_a_refused_idempotency_key_is_a_400_and_the_next_attempt_gets_a_new_key(
    app: FastAPI, pay: Pay, order: Order
) -> None:
    real = app.state.dependencies.payments.stripe
    app.state.dependencies.payments.stripe = RefusesTheKey()

    response = await pay(order, "tok_visa")
    app.state.dependencies.payments.stripe = real

    assert response.status_code == 400
    assert response.json()["errors"] == [{"message": KEY_REUSED}]
    replica = await stored(Order, order.id)
    assert (replica.payment_state, replica.payment_attempt) == (None, 1)
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None
