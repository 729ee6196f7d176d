"""POST /api/payments against the Stripe stand-in, a real HTTP peer."""

from collections.abc import Awaitable, Callable
from typing import Any

from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import AsyncClient, Response

from common.events.subjects import OrderStatus, Subjects
from payments.models import Order, Payment, PaymentState
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import outbox_of, stored

Headers = Callable[..., dict[str, str]]
Pay = Callable[..., Awaitable[Response]]
URL = "/api/payments"


def errors(response: Any) -> list[dict[str, str]]:
    body: dict[str, list[dict[str, str]]] = response.json()
    return body["errors"]


async def test_has_a_route_handler_listening_for_post_requests(client: AsyncClient) -> None:
    response = await client.post(URL, json={})
    assert response.status_code != 404


async def test_401_when_not_signed_in(client: AsyncClient, make_order: Any) -> None:
    order = await make_order()
    response = await client.post(URL, json={"token": "tok_visa", "orderId": str(order.id)})
    assert response.status_code == 401
    assert errors(response) == [{"message": "Not authorized"}]


async def test_400_for_an_invalid_body(client: AsyncClient, auth: Headers) -> None:
    response = await client.post(URL, json={}, headers=auth())
    assert response.status_code == 400
    assert errors(response) == [
        {"message": "Token must be provided", "field": "token"},
        {"message": "OrderId must be a valid id", "field": "orderId"},
    ]

    response = await client.post(URL, json={"token": "  ", "orderId": "not-an-id"}, headers=auth())
    assert response.status_code == 400
    assert {e["field"] for e in errors(response)} == {"token", "orderId"}

    response = await client.post(
        URL, json={"token": {"$ne": None}, "orderId": str(PydanticObjectId())}, headers=auth()
    )
    assert response.status_code == 400
    assert errors(response) == [{"message": "Token must be provided", "field": "token"}]


async def test_404_when_the_order_does_not_exist(client: AsyncClient, auth: Headers) -> None:
    response = await client.post(
        URL, json={"token": "tok_visa", "orderId": str(PydanticObjectId())}, headers=auth()
    )
    assert response.status_code == 404
    assert errors(response) == [{"message": "Not Found"}]


async def test_401_when_the_order_belongs_to_another_user(
    pay: Pay, make_order: Any, stripe: Any
) -> None:
    order = await make_order()  # of another user
    response = await pay(order, "tok_visa")
    assert response.status_code == 401
    assert stripe.charges_for(str(order.id)) == []


async def test_400_when_the_order_is_cancelled(
    pay: Pay, buyer: str, make_order: Any, stripe: Any
) -> None:
    order = await make_order(user_id=buyer, status=OrderStatus.CANCELLED, version=1)
    response = await pay(order, "tok_visa")
    assert response.status_code == 400
    assert errors(response) == [{"message": "Cannot pay for a cancelled order"}]
    assert stripe.charges_for(str(order.id)) == []


async def test_201_charges_a_card_token_stores_the_payment_and_publishes(
    app: FastAPI,
    pay: Pay,
    buyer: str,
    make_order: Any,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    order = await make_order(user_id=buyer, price=37.25)
    order_id = str(order.id)

    response = await pay(order, "tok_visa")

    assert response.status_code == 201, response.text
    (charge,) = stripe.charges_for(order_id)
    assert charge["amount"] == 3725
    assert charge["currency"] == "usd"
    assert charge["status"] == "succeeded"
    await outbox_of(app).clear_published()  # published events are cleared in batches
    payment = await Payment.find_one(Payment.order_id == order_id)
    assert payment is not None
    assert response.json() == {"id": str(payment.id)}
    assert payment.stripe_id == charge["id"]
    assert payment.outbox == []
    assert publisher.of(Subjects.PAYMENT_CREATED) == [
        {"id": str(payment.id), "orderId": order_id, "stripeId": charge["id"]}
    ]
    assert (await stored(Order, order.id)).payment_state == PaymentState.PAID


async def test_201_confirms_a_payment_method_through_a_payment_intent(
    pay: Pay, order: Order, stripe: Any, publisher: RecordingPublisher
) -> None:
    order_id = str(order.id)

    response = await pay(order, "pm_card_visa")

    assert response.status_code == 201, response.text
    (charge,) = stripe.charges_for(order_id)
    assert (charge["amount"], charge["currency"], charge["status"]) == (2000, "usd", "succeeded")
    payment = await Payment.find_one(Payment.order_id == order_id)
    assert payment is not None
    assert payment.stripe_id == charge["payment_intent"]
    assert payment.stripe_id.startswith("pi_")
    assert publisher.of(Subjects.PAYMENT_CREATED) == [
        {"id": str(payment.id), "orderId": payment.order_id, "stripeId": payment.stripe_id}
    ]


async def test_a_declined_card_is_a_400_with_stripes_message_and_nothing_else(
    pay: Pay, buyer: str, make_order: Any, stripe: Any, publisher: RecordingPublisher
) -> None:
    for token in ("tok_chargeDeclined", "pm_card_chargeCustomerFail"):
        order = await make_order(user_id=buyer)
        order_id = str(order.id)

        response = await pay(order, token)

        assert response.status_code == 400, token
        assert errors(response) == [{"message": "Your card was declined."}]
        assert stripe.succeeded_for(order_id) == []
        assert await Payment.find_one(Payment.order_id == order_id) is None
        replica = await stored(Order, order.id)
        assert replica.payment_state is None, "the claim is released"
        assert replica.payment_attempt == 1, "the next attempt gets a new idempotency key"
    assert publisher.published == []


async def test_after_a_decline_another_card_can_pay(pay: Pay, order: Order, stripe: Any) -> None:

    declined = await pay(order, "tok_chargeDeclined")
    paid = await pay(order, "tok_visa")

    assert declined.status_code == 400
    assert paid.status_code == 201, paid.text
    assert len(stripe.succeeded_for(str(order.id))) == 1


async def test_an_unknown_token_is_a_400_and_nothing_is_stored(
    pay: Pay, order: Order, publisher: RecordingPublisher
) -> None:

    response = await pay(order, "tok_doesnotexist")

    assert response.status_code == 400
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None
    assert publisher.published == []


async def test_a_second_payment_is_a_400_and_stripe_is_not_called_again(
    pay: Pay, order: Order, stripe: Any, publisher: RecordingPublisher
) -> None:

    first = await pay(order, "tok_visa")
    second = await pay(order, "tok_visa")
    third = await pay(order, "pm_card_visa")

    assert first.status_code == 201
    assert second.status_code == 400
    assert errors(second) == [{"message": "This order has already been paid for"}]
    assert third.status_code == 400
    assert len(stripe.charges_for(str(order.id))) == 1
    assert await Payment.find(Payment.order_id == str(order.id)).count() == 1
    assert len(publisher.of(Subjects.PAYMENT_CREATED)) == 1


async def test_an_order_paid_then_cancelled_is_still_refused_as_paid(
    pay: Pay, order: Order, stripe: Any
) -> None:
    assert (await pay(order, "tok_visa")).status_code == 201
    await Order.get_pymongo_collection().update_one(
        {"_id": order.id}, {"$set": {"status": "cancelled", "version": 1}}
    )

    again = await pay(order, "tok_visa")

    assert again.status_code == 400
    assert errors(again) == [{"message": "This order has already been paid for"}]
    assert len(stripe.charges_for(str(order.id))) == 1
