"""order:cancelled: mark the replica cancelled, and refund the order if it was paid.

Orders cancels an order only while it is not complete, and keeps it cancelled when a
payment:created arrives afterwards (a payment accepted just before the reservation ran out
whose event reached orders after expiration:complete, or a cancellation racing a payment).
The ticket is then back on sale, so the money must go back: this listener refunds it.

Payments and cancellation meet safely because each side writes before it looks: the route
claims the order (`paying`, refused once the replica is cancelled) before calling Stripe and
stores the payment before marking the order `paid`; this listener stores `cancelled` first
and then reads the claim. While a claim is held the outcome is not known yet, so the event
is left for redelivery and decided then.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, ClassVar

from common.database import apply_next_version, parse_object_id
from common.events.listener import EventOutOfOrder, Listener, Message
from common.events.schemas import Event, OrderCancelled
from common.events.subjects import OrderStatus, Subjects
from payments.events import QUEUE_GROUP
from payments.models import CLAIM_LEASE_SECONDS, Order, Payment, PaymentState

if TYPE_CHECKING:
    from payments.stripe_gateway import StripeGateway

logger = logging.getLogger(__name__)


def refund_idempotency_key(order_id: str) -> str:
    """The Stripe idempotency key of an order's refund (one refund per order, ever)."""
    return f"ticketing-order-{order_id}-refund"


class PaymentInProgress(EventOutOfOrder):
    """A payment of the cancelled order is being made: decide about a refund once it is
    stored or given up (the event comes back after a delay)."""


class OrderCancelledListener(Listener[OrderCancelled]):
    """Marks the replica cancelled when the event is its next version (older: ignored;
    newer: left unacked until its predecessor has been applied). Only the status is set,
    so this applies whatever payments did with the order meanwhile. Then, also on a
    redelivery, refunds a payment stored for the order and not refunded yet."""

    subject = Subjects.ORDER_CANCELLED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = OrderCancelled

    stripe: StripeGateway | None = None
    """Set by the app at start-up, before any event is handled."""

    async def on_message(self, data: OrderCancelled, msg: Message) -> None:
        order_id = parse_object_id(data.id)
        if order_id is None:
            logger.error("order:cancelled with a malformed id %r ignored", data.id)
            return
        applied = await apply_next_version(
            Order, data.id, data.version, {"status": OrderStatus.CANCELLED.value}
        )
        if not applied:
            logger.info("order:cancelled %s v%d already applied", data.id, data.version)
        order = await Order.get(order_id)
        if order is None or order.status != OrderStatus.CANCELLED:
            return
        if order.payment_state == PaymentState.PAYING:
            claimed_at = order.payment_claimed_at or 0.0
            if claimed_at >= time.time() - CLAIM_LEASE_SECONDS:
                raise PaymentInProgress(f"order {data.id} is being paid; refund decided later")
            logger.error(
                "order %s cancelled while a payment attempt of unknown outcome was left "
                "pending; check Stripe for idempotency key prefix ticketing-order-%s-payment",
                data.id,
                data.id,
            )
            return
        await self.refund(data.id)

    async def refund(self, order_id: str) -> None:
        """Give back the order's stored payment, if there is one not yet refunded."""
        payment = await Payment.find_one(Payment.order_id == order_id)
        if payment is None or payment.refunded:
            return
        if self.stripe is None:
            raise RuntimeError("no Stripe gateway to refund with")
        refund_id = await self.stripe.refund(
            stripe_id=payment.stripe_id,
            order_id=order_id,
            idempotency_key=refund_idempotency_key(order_id),
        )
        await payment.mark_refunded(refund_id)
        logger.warning(
            "order %s was cancelled after being paid: payment %s (stripe %s) refunded (%s)",
            order_id,
            payment.id,
            payment.stripe_id,
            refund_id or "already refunded at Stripe",
        )
