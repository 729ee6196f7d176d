"""An order is charged at most once: simultaneous requests, a retry after a lost answer,
a request that died holding the claim, Stripe unreachable."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from asgi_lifespan import LifespanManager
from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from common.events.subjects import Subjects
from common.testing.doubles import RecordingPublisher
from common.testing.servers import free_port
from payments.app import create_app
from payments.models import CLAIM_LEASE_SECONDS, Order, Payment, PaymentState
from payments.routes.create_payment import KEY_REUSED, idempotency_key
from payments.settings import PaymentsSettings
from payments.stripe_gateway import PaymentKeyReused, PaymentOutcomeUnknown, StripeGateway

Headers = Callable[..., dict[str, str]]
URL = "/api/payments"


async def test_simultaneous_payments_for_one_order_charge_once(
    client: AsyncClient,
    auth: Headers,
    make_order: Any,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    headers = auth(user_id)
    tokens = ["tok_visa", "pm_card_visa", "tok_visa", "pm_card_visa", "tok_visa"]

    responses = await asyncio.gather(
        *(
            client.post(URL, json={"token": token, "orderId": str(order.id)}, headers=headers)
            for token in tokens
        )
    )

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


async def test_a_retry_after_a_lost_answer_does_not_charge_twice(
    app: FastAPI, client: AsyncClient, auth: Headers, make_order: Any, stripe: Any
) -> None:
    gateway = LosesFirstAnswer(app.state.stripe)
    app.state.stripe = gateway
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    body = {"token": "tok_visa", "orderId": str(order.id)}

    lost = await client.post(URL, json=body, headers=auth(user_id))
    replica = await Order.get(order.id)
    retried = await client.post(URL, json=body, headers=auth(user_id))

    assert lost.status_code == 500
    assert lost.json() == {"errors": [{"message": "Something went wrong"}]}
    assert replica is not None
    assert replica.payment_state is None, "the claim is released for a retry"
    assert replica.payment_attempt == 0, "and the retry keeps the idempotency key"
    assert retried.status_code == 201, retried.text
    assert gateway.keys == [idempotency_key(str(order.id), 0)] * 2
    assert gateway.ids[0] == gateway.ids[1], "Stripe answered the retry with the first charge"
    assert len(stripe.charges_for(str(order.id))) == 1
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert payment.stripe_id == gateway.ids[0]


async def test_the_idempotency_key_reaches_stripe(
    app: FastAPI, make_order: Any, stripe: Any
) -> None:
    order = await make_order(price=12.5)
    gateway: StripeGateway = app.state.stripe
    key = idempotency_key(str(order.id), 0)

    charges = [
        await gateway.charge(token=token, amount=1250, order_id=str(order.id), idempotency_key=key)
        for token in ("tok_visa", "tok_visa")
    ]

    assert charges[0] == charges[1]
    assert len(stripe.charges_for(str(order.id))) == 1
    assert idempotency_key(str(order.id), 1) != key


async def test_a_claim_left_by_a_dead_request_is_taken_over_after_its_lease(
    client: AsyncClient, auth: Headers, make_order: Any, stripe: Any
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    body = {"token": "tok_visa", "orderId": str(order.id)}
    collection = Order.get_pymongo_collection()

    await collection.update_one(
        {"_id": order.id},
        {"$set": {"payment_state": "paying", "payment_claimed_at": time.time() - 1}},
    )
    busy = await client.post(URL, json=body, headers=auth(user_id))
    await collection.update_one(
        {"_id": order.id},
        {"$set": {"payment_claimed_at": time.time() - CLAIM_LEASE_SECONDS - 1}},
    )
    taken_over = await client.post(URL, json=body, headers=auth(user_id))

    assert busy.status_code == 400
    assert busy.json()["errors"] == [{"message": "A payment for this order is already in progress"}]
    assert taken_over.status_code == 201, taken_over.text
    assert len(stripe.charges_for(str(order.id))) == 1


async def test_stripe_unreachable_is_a_500_and_releases_the_claim(
    settings: PaymentsSettings, auth: Headers, publisher: RecordingPublisher
) -> None:
    unreachable = settings.model_copy(update={"STRIPE_API_BASE": f"http://127.0.0.1:{free_port()}"})
    app = create_app(unreachable, publisher=publisher)
    user_id = str(PydanticObjectId())
    async with (
        LifespanManager(app),
        AsyncClient(
            transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
        ) as client,
    ):
        order = await Order(
            id=PydanticObjectId(), user_id=user_id, price=5, status="created", version=0
        ).insert()
        response = await client.post(
            URL, json={"token": "tok_visa", "orderId": str(order.id)}, headers=auth(user_id)
        )
        replica = await Order.get(order.id)
        stored = await Payment.find_one(Payment.order_id == str(order.id))

    assert response.status_code == 500
    assert response.json() == {"errors": [{"message": "Something went wrong"}]}
    assert replica is not None
    assert replica.payment_state is None
    assert replica.payment_attempt == 0
    assert stored is None
    assert publisher.published == []


async def test_a_payment_made_while_nats_is_down_is_published_later(
    app: FastAPI,
    client: AsyncClient,
    auth: Headers,
    make_order: Any,
    publisher: RecordingPublisher,
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    publisher.fail = True

    response = await client.post(
        URL, json={"token": "tok_visa", "orderId": str(order.id)}, headers=auth(user_id)
    )

    assert response.status_code == 201
    payment = await Payment.find_one(Payment.order_id == str(order.id))
    assert payment is not None
    assert [event.subject for event in payment.outbox] == [Subjects.PAYMENT_CREATED.value]
    replica = await Order.get(order.id)
    assert replica is not None
    assert replica.payment_state == PaymentState.PAID

    publisher.fail = False
    assert await app.state.relay.drain_once() == 1
    assert publisher.of(Subjects.PAYMENT_CREATED) == [payment.to_json()]


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


async def test_a_refused_idempotency_key_is_a_400_and_keeps_the_key(
    app: FastAPI, client: AsyncClient, auth: Headers, make_order: Any
) -> None:
    real = app.state.stripe
    app.state.stripe = RefusesTheKey()
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)

    response = await client.post(
        URL, json={"token": "tok_visa", "orderId": str(order.id)}, headers=auth(user_id)
    )
    app.state.stripe = real

    assert response.status_code == 400
    assert response.json()["errors"] == [{"message": KEY_REUSED}]
    replica = await Order.get(order.id)
    assert replica is not None
    assert (replica.payment_state, replica.payment_attempt) == (None, 0)
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None
