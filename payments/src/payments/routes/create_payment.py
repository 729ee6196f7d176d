"""`POST /api/payments`: charge an order through Stripe, at most once."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from pymongo.errors import DuplicateKeyError

from common.errors import BadRequestError, NotAuthorizedError, NotFoundError
from common.events.subjects import OrderStatus
from common.session import RequiredUser
from payments.models import Order, Payment, PaymentState
from payments.schemas import CreatePaymentBody
from payments.stripe_gateway import PaymentKeyReused, PaymentRefused, StripeGateway

logger = logging.getLogger(__name__)

router = APIRouter()

CANCELLED = "Cannot pay for a cancelled order"
EXPIRED = "This order has expired"
ALREADY_PAID = "This order has already been paid for"
IN_PROGRESS = "A payment for this order is already in progress"
KEY_REUSED = (
    "An earlier payment attempt for this order could not be confirmed; try again with the same card"
)


def idempotency_key(order_id: str, attempt: int) -> str:
    """The Stripe idempotency key of an order's `attempt`-th payment attempt."""
    return f"ticketing-order-{order_id}-payment-{attempt}"


def refusal(order: Order) -> BadRequestError | None:
    """Why `order` cannot be paid now, or None if it can."""
    if order.payment_state == PaymentState.PAID:
        return BadRequestError(ALREADY_PAID)
    if order.status == OrderStatus.CANCELLED:
        return BadRequestError(CANCELLED)
    if order.has_expired():
        # Orders is about to cancel it (or has, and the replica has not heard yet).
        return BadRequestError(EXPIRED)
    return None


@router.post("", status_code=201)
async def create_payment(
    body: CreatePaymentBody, user: RequiredUser, request: Request
) -> dict[str, str]:
    order = await Order.get(body.order_id)
    if order is None:
        raise NotFoundError()
    if order.user_id != user.id:
        raise NotAuthorizedError()
    reason = refusal(order)
    if reason is not None:
        raise reason

    # The claim re-checks all of the above in the same atomic step.
    claimed = await Order.claim_for_payment(body.order_id)
    if claimed is None:
        current = await Order.get(body.order_id)
        raise refusal(current or order) or BadRequestError(IN_PROGRESS)

    try:
        payment = await _pay(claimed, body.token, request.app.state.stripe)
    except PaymentRefused as refused:
        await Order.release_claim(claimed.id, new_attempt=True)  # type: ignore[arg-type]
        raise BadRequestError(refused.message) from None
    except PaymentKeyReused:
        await Order.release_claim(claimed.id, new_attempt=False)  # type: ignore[arg-type]
        raise BadRequestError(KEY_REUSED) from None
    except BaseException:
        # The charge may have happened: the next attempt repeats this one's idempotency key,
        # so Stripe answers it with this attempt's result rather than charging again.
        await Order.release_claim(claimed.id, new_attempt=False)  # type: ignore[arg-type]
        raise
    if payment is None:
        raise BadRequestError(ALREADY_PAID)
    await request.app.state.relay.flush(payment)
    return {"id": str(payment.id)}


async def _pay(order: Order, token: str, stripe: StripeGateway) -> Payment | None:
    """Charge the claimed `order` and store the payment with its event; None if a payment
    was stored already (by a request whose claim this one took over)."""
    order_id = str(order.id)
    if await Payment.find_one(Payment.order_id == order_id) is not None:
        await Order.mark_paid(order.id)  # type: ignore[arg-type]
        return None
    stripe_id = await stripe.charge(
        token=token,
        amount=order.amount_cents,
        order_id=order_id,
        idempotency_key=idempotency_key(order_id, order.payment_attempt),
    )
    payment = Payment(order_id=order_id, stripe_id=stripe_id)
    try:
        await payment.insert_with_event(lambda p: p.created_event())
    except DuplicateKeyError:
        payment_stored = None
    else:
        payment_stored = payment
    await Order.mark_paid(order.id)  # type: ignore[arg-type]
    logger.info("order %s paid: %s", order_id, stripe_id)
    return payment_stored
