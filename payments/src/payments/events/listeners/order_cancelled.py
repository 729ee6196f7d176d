"""order:cancelled: mark the replica cancelled, and give back any money taken for the order.

Orders cancels an order only while it is not complete, and keeps it cancelled when a
payment:created arrives afterwards (a payment accepted just before the reservation ran out
whose event reached orders after expiration:complete, or a cancellation racing a payment).
The ticket is then back on sale, so the money must go back: this listener refunds it.

Payments and cancellation meet safely because each side writes before it looks: the route
claims the order (`paying`, refused once the replica is cancelled) before calling Stripe and
stores the payment before marking the order `paid`; this listener stores `cancelled` first
and then reads the claim. While a live request holds the claim, the outcome is not known
yet, so the event is left for redelivery and decided then; a claim whose holder died is
settled by asking Stripe (`PaymentService.settle`).
"""

from __future__ import annotations

import logging
from typing import ClassVar

from common.database import apply_next_version, parse_object_id
from common.events.listener import EventOutOfOrder, Listener, Message
from common.events.schemas import Event, OrderCancelled
from common.events.subjects import OrderStatus, Subjects
from payments.events import QUEUE_GROUP
from payments.models import Order, PaymentState
from payments.service import NothingCharged, PaymentService, StillUnknown

logger = logging.getLogger(__name__)


class PaymentInProgress(EventOutOfOrder):
    """A payment of the cancelled order is being made: decide about a refund once it is
    stored or given up (the event comes back after a delay)."""


class OrderCancelledListener(Listener[OrderCancelled]):
    """Marks the replica cancelled when the event is its next version (older: ignored;
    newer: left unacked until its predecessor has been applied). Only the status is set,
    so this applies whatever payments did with the order meanwhile. Then, also on a
    redelivery, refunds a payment made for the order and not refunded yet."""

    subject = Subjects.ORDER_CANCELLED
    queue_group = QUEUE_GROUP
    event_model: ClassVar[type[Event]] = OrderCancelled

    def __init__(self, payments: PaymentService) -> None:
        self.payments = payments

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
            if not order.claim_is_stale():
                raise PaymentInProgress(f"order {data.id} is being paid; refund decided later")
            outcome = await self.payments.settle(order)
            if isinstance(outcome, StillUnknown):
                raise PaymentInProgress(f"order {data.id}: Stripe cannot say yet; asked again")
            if isinstance(outcome, NothingCharged):
                return
        await self.payments.refund_if_owed(order_id)
