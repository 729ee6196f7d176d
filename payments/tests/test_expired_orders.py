"""An order whose reservation has run out is refused before Stripe is called, even while
the replica has not heard of its cancellation yet."""

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from beanie import PydanticObjectId
from httpx import Response

from common.events.subjects import OrderStatus, Subjects
from payments.models import Order, Payment, PaymentState
from testsupport.doubles import RecordingPublisher
from testsupport.plugin import stored

Pay = Callable[..., Awaitable[Response]]


async def test_an_expired_order_is_a_400_and_nothing_is_charged_stored_or_published(
    pay: Pay, buyer: str, make_order: Any, stripe: Any, publisher: RecordingPublisher
) -> None:
    order = await make_order(user_id=buyer, expires_in=-1)

    for token in ("tok_visa", "pm_card_visa"):
        response = await pay(order, token)

        assert response.status_code == 400, token
        assert response.json() == {"errors": [{"message": "This order has expired"}]}
    assert stripe.charges_for(str(order.id)) == []
    assert await Payment.find_one(Payment.order_id == str(order.id)) is None
    assert publisher.published == []
    replica = await stored(Order, order.id)
    assert (replica.payment_state, replica.payment_attempt) == (None, 0), "never claimed"


async def test_an_order_with_time_left_is_paid(
    pay: Pay, buyer: str, make_order: Any, stripe: Any, publisher: RecordingPublisher
) -> None:
    order = await make_order(user_id=buyer, expires_in=5)

    response = await pay(order, "tok_visa")

    assert response.status_code == 201, response.text
    assert len(stripe.succeeded_for(str(order.id))) == 1
    assert len(publisher.of(Subjects.PAYMENT_CREATED)) == 1


async def test_a_replica_document_without_a_deadline_loads_and_is_payable(
    pay: Pay, buyer: str, stripe: Any
) -> None:
    """Documents stored before the replica kept `expires_at` have no such field (and hold
    their price as a number, from before prices were kept in cents)."""
    order_id = PydanticObjectId()
    await Order.get_pymongo_collection().insert_one(
        {"_id": order_id, "version": 0, "user_id": buyer, "price": 9.5, "status": "created"}
    )
    loaded = await stored(Order, order_id)
    assert loaded.expires_at is None
    assert not loaded.has_expired()

    response = await pay(order_id, "tok_visa")

    assert response.status_code == 201, response.text
    (charge,) = stripe.succeeded_for(str(order_id))
    assert charge["amount"] == 950


async def test_the_claim_itself_refuses_an_expired_order(make_order: Any) -> None:
    """The deadline is part of the claim's conditional update, so a request that passed
    the first check just before the deadline cannot claim the order just after it."""
    expired = await make_order(expires_in=-0.5)
    in_time = await make_order(expires_in=60)
    undated = await make_order(expires_in=None)

    assert await Order.claim_for_payment(expired.id, "tok_visa") is None
    assert (await Order.claim_for_payment(in_time.id, "tok_visa")) is not None
    assert (await Order.claim_for_payment(undated.id, "tok_visa")) is not None
    assert (await stored(Order, expired.id)).payment_state is None


async def test_an_order_that_expires_between_the_check_and_the_claim_is_refused(
    pay: Pay, buyer: str, make_order: Any, stripe: Any, monkeypatch: Any
) -> None:
    order = await make_order(user_id=buyer, expires_in=60)
    claim = Order.claim_for_payment

    async def late_claim(order_id: PydanticObjectId, token: str) -> Order | None:
        # The deadline passes while the request is between its first check and the claim.
        past = datetime.now(UTC) - timedelta(seconds=1)
        await Order.get_pymongo_collection().update_one(
            {"_id": order_id}, {"$set": {"expires_at": past}}
        )
        return await claim(order_id, token)

    monkeypatch.setattr(Order, "claim_for_payment", late_claim)
    response = await pay(order, "tok_visa")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "This order has expired"}]}
    assert stripe.charges_for(str(order.id)) == []


async def test_a_cancelled_order_past_its_deadline_is_refused_as_cancelled(
    pay: Pay, buyer: str, make_order: Any
) -> None:
    order = await make_order(user_id=buyer, status=OrderStatus.CANCELLED, version=1, expires_in=-60)

    response = await pay(order, "tok_visa")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "Cannot pay for a cancelled order"}]}


async def test_a_paid_order_past_its_deadline_is_refused_as_paid(
    pay: Pay, buyer: str, make_order: Any
) -> None:
    order = await make_order(user_id=buyer, expires_in=-60)
    await Order.mark_paid(order.id)

    response = await pay(order, "tok_visa")

    assert response.status_code == 400
    assert response.json() == {"errors": [{"message": "This order has already been paid for"}]}
    assert (await stored(Order, order.id)).payment_state == PaymentState.PAID
