"""POST /api/payments against the Stripe stand-in, a real HTTP peer."""

from collections.abc import Callable
from typing import Any

from beanie import PydanticObjectId
from fastapi import FastAPI
from httpx import AsyncClient

from common.events.subjects import OrderStatus, Subjects
from payments.models import Order, Payment, PaymentState
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import outbox_of

Headers = Callable[..., dict[str, str]]
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
    client: AsyncClient, auth: Headers, make_order: Any, stripe: Any
) -> None:
    order = await make_order()
    response = await client.post(
        URL, json={"token": "tok_visa", "orderId": str(order.id)}, headers=auth()
    )
    assert response.status_code == 401
    assert stripe.charges_for(str(order.id)) == []


async def test_400_when_the_order_is_cancelled(
    client: AsyncClient, auth: Headers, make_order: Any, stripe: Any
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id, status=OrderStatus.CANCELLED, version=1)
    response = await client.post(
        URL, json={"token": "tok_visa", "orderId": str(order.id)}, headers=auth(user_id)
    )
    assert response.status_code == 400
    assert errors(response) == [{"message": "Cannot pay for a cancelled order"}]
    assert stripe.charges_for(str(order.id)) == []


async def test_201_charges_a_card_token_stores_the_payment_and_publishes(
    app: FastAPI,
    client: AsyncClient,
    auth: Headers,
    make_order: Any,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id, price=37.25)
    order_id = str(order.id)

    response = await client.post(
        URL, json={"token": "tok_visa", "orderId": order_id}, headers=auth(user_id)
    )

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
    replica = await Order.get(order.id)
    assert replica is not None
    assert replica.payment_state == PaymentState.PAID


async def test_201_confirms_a_payment_method_through_a_payment_intent(
    client: AsyncClient,
    auth: Headers,
    make_order: Any,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id, price=20)
    order_id = str(order.id)

    response = await client.post(
        URL, json={"token": "pm_card_visa", "orderId": order_id}, headers=auth(user_id)
    )

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
    client: AsyncClient,
    auth: Headers,
    make_order: Any,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    user_id = str(PydanticObjectId())
    for token in ("tok_chargeDeclined", "pm_card_chargeCustomerFail"):
        order = await make_order(user_id=user_id)
        order_id = str(order.id)

        response = await client.post(
            URL, json={"token": token, "orderId": order_id}, headers=auth(user_id)
        )

        assert response.status_code == 400, token
        assert errors(response) == [{"message": "Your card was declined."}]
        assert stripe.succeeded_for(order_id) == []
        assert await Payment.find_one(Payment.order_id == order_id) is None
        replica = await Order.get(order.id)
        assert replica is not None
        assert replica.payment_state is None, "the claim is released"
        assert replica.payment_attempt == 1, "the next attempt gets a new idempotency key"
    assert publisher.published == []


async def test_after_a_decline_another_card_can_pay(
    client: AsyncClient, auth: Headers, make_order: Any, stripe: Any
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    body = {"orderId": str(order.id)}

    declined = await client.post(
        URL, json={**body, "token": "tok_chargeDeclined"}, headers=auth(user_id)
    )
    paid = await client.post(URL, json={**body, "token": "tok_visa"}, headers=auth(user_id))

    assert declined.status_code == 400
    assert paid.status_code == 201, paid.text
    assert len(stripe.succeeded_for(str(order.id))) == 1


async def test_an_unknown_token_is_a_400_and_nothing_is_stored(
    client: AsyncClient, auth: Headers, make_order: Any, publisher: RecordingPublisher
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)

    response = await client.post(
        URL, json={"token": "tok_doesnotexist", "orderId": str(order.id)}, headers=auth(user_id)
    )

    assert response.status_code == 400
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None
    assert publisher.published == []


async def test_a_second_payment_is_a_400_and_stripe_is_not_called_again(
    client: AsyncClient,
    auth: Headers,
    make_order: Any,
    stripe: Any,
    publisher: RecordingPublisher,
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    body = {"token": "tok_visa", "orderId": str(order.id)}

    first = await client.post(URL, json=body, headers=auth(user_id))
    second = await client.post(URL, json=body, headers=auth(user_id))
    third = await client.post(URL, json={**body, "token": "pm_card_visa"}, headers=auth(user_id))

    assert first.status_code == 201
    assert second.status_code == 400
    assert errors(second) == [{"message": "This order has already been paid for"}]
    assert third.status_code == 400
    assert len(stripe.charges_for(str(order.id))) == 1
    assert await Payment.find(Payment.order_id == str(order.id)).count() == 1
    assert len(publisher.of(Subjects.PAYMENT_CREATED)) == 1


async def test_an_order_paid_then_cancelled_is_still_refused_as_paid(
    client: AsyncClient, auth: Headers, make_order: Any, stripe: Any
) -> None:
    user_id = str(PydanticObjectId())
    order = await make_order(user_id=user_id)
    body = {"token": "tok_visa", "orderId": str(order.id)}
    assert (await client.post(URL, json=body, headers=auth(user_id))).status_code == 201
    await Order.get_pymongo_collection().update_one(
        {"_id": order.id}, {"$set": {"status": "cancelled", "version": 1}}
    )

    again = await client.post(URL, json=body, headers=auth(user_id))

    assert again.status_code == 400
    assert errors(again) == [{"message": "This order has already been paid for"}]
    assert len(stripe.charges_for(str(order.id))) == 1
