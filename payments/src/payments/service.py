"""Taking money for orders, and never forgetting money taken.

`PaymentService.pay` is the sequence behind `POST /api/payments`: claim the order (one
attempt at a time), charge it at Stripe under the attempt's idempotency key, record the
payment with its event. Every way that sequence can stop half-way leaves the attempt on the
order (`paying`, with its token), and `settle` finishes it by asking Stripe the same question
again - the same key and parameters, so Stripe answers with the first outcome instead of
charging twice. Three things settle attempts:

- a buyer's retry asks Stripe at once (a claim never blocks a retry for longer than that);
- the order:cancelled listener, so a cancelled order's money is given back;
- `reconcile`, run every few seconds in every replica, for attempts whose holder stopped
  renewing its claim (it died) and cancelled orders that are still paid.

A settled attempt either charged (the payment is recorded and published; if the order was
cancelled meanwhile, it is refunded) or charged nothing (the order can be paid again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from common.errors import (
    BadRequestError,
    NotAuthorizedError,
    NotFoundError,
    ServiceUnavailableError,
)
from common.events.subjects import OrderStatus
from payments.models import HEARTBEAT_SECONDS, Order, Payment, PaymentState
from payments.stripe_gateway import (
    PaymentKeyReused,
    PaymentOutcomeUnknown,
    PaymentRefused,
    StripeGateway,
)

logger = logging.getLogger(__name__)

CANCELLED = "Cannot pay for a cancelled order"
EXPIRED = "This order has expired"
ALREADY_PAID = "This order has already been paid for"
IN_PROGRESS = "A payment for this order is already in progress"
KEY_REUSED = (
    "An earlier payment attempt for this order could not be confirmed; try again with the same card"
)
NOT_CONFIRMED = (
    "The card processor did not confirm the payment in time. If the card was charged, the "
    "order is completed (or refunded, if it was cancelled) automatically; you may also try again."
)


def idempotency_key(order_id: str, attempt: int) -> str:
    """The Stripe idempotency key of an order's `attempt`-th payment attempt."""
    return f"ticketing-order-{order_id}-payment-{attempt}"


def refund_idempotency_key(order_id: str) -> str:
    """The Stripe idempotency key of an order's refund (one refund per order, ever)."""
    return f"ticketing-order-{order_id}-refund"


def refusal(order: Order) -> BadRequestError | None:
    """Why `order` cannot be paid now, or None if it can."""
    if order.payment_state in (PaymentState.PAID, PaymentState.REFUNDED):
        return BadRequestError(ALREADY_PAID)
    if order.status == OrderStatus.CANCELLED:
        return BadRequestError(CANCELLED)
    if order.has_expired():
        # Orders is about to cancel it (or has, and the replica has not heard yet).
        return BadRequestError(EXPIRED)
    return None


@dataclass
class Charged:
    """The attempt charged the card; the payment is recorded."""

    payment: Payment
    recorded_now: bool
    """This call stored the payment (rather than finding it stored by another)."""


@dataclass
class NothingCharged:
    """Stripe refused the attempt: the order is free to be paid again."""

    message: str


class StillUnknown:
    """Stripe could not say (unreachable, or the attempt is still running there)."""


Outcome = Charged | NothingCharged | StillUnknown


@dataclass
class ReconcileReport:
    """What one reconciliation pass did (for the log and the admin command)."""

    recorded: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    refunded: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any((self.recorded, self.released, self.unknown, self.refunded, self.failed))


class PaymentService:
    def __init__(self, stripe: StripeGateway) -> None:
        self.stripe = stripe

    # -- POST /api/payments -----------------------------------------------------------------

    async def pay(self, order_id: PydanticObjectId, token: str, user_id: str) -> Payment:
        """Charge the caller's order once; the stored payment, or an error for the caller."""
        order = await Order.get(order_id)
        if order is None:
            raise NotFoundError()
        if order.user_id != user_id:
            raise NotAuthorizedError()
        for _ in range(2):  # a held attempt that turns out to have charged nothing frees it
            if (reason := refusal(order)) is not None:
                raise reason
            claimed = await Order.claim_for_payment(order_id, token)
            if claimed is not None:
                return await self._charge(claimed)
            order = await Order.get(order_id) or order
            if order.payment_state != PaymentState.PAYING:
                continue
            # Another attempt holds the order. Ask Stripe about it now rather than waiting for
            # a lease: if its holder died, this settles it; if it is still running, Stripe says
            # so (409) and so do we.
            outcome = await self.settle(order)
            if isinstance(outcome, Charged):
                if outcome.recorded_now:
                    return outcome.payment
                raise BadRequestError(ALREADY_PAID)
            if isinstance(outcome, StillUnknown):
                raise BadRequestError(IN_PROGRESS)
            order = await Order.get(order_id) or order
        raise BadRequestError(IN_PROGRESS)

    async def _charge(self, order: Order) -> Payment:
        attempt = order.payment_attempt
        async with self._renewing_claim(order):
            try:
                stripe_id = await self._ask_stripe(order)
            except PaymentRefused as refused:
                await Order.end_attempt(order.order_id, attempt)
                raise BadRequestError(refused.message) from None
            except PaymentKeyReused:
                await self._give_up_key(order)
                raise BadRequestError(KEY_REUSED) from None
            except PaymentOutcomeUnknown as unknown:
                # The claim stays: this attempt is settled by a retry or by `reconcile`.
                logger.warning("order %s: payment outcome unknown (%s)", order.id, unknown)
                raise ServiceUnavailableError(NOT_CONFIRMED) from None
        charged = await self._record(order, stripe_id)
        if not charged.recorded_now:
            raise BadRequestError(ALREADY_PAID)
        return charged.payment

    @contextlib.asynccontextmanager
    async def _renewing_claim(self, order: Order) -> AsyncIterator[None]:
        """Renew the claim while the block runs, so background settlement leaves it alone;
        if this process dies, renewals stop and the claim soon counts as abandoned."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS)
                with contextlib.suppress(Exception):  # the next renewal may succeed
                    await Order.renew_claim(order.order_id, order.payment_attempt)

        task = asyncio.create_task(renew())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- settling an attempt ----------------------------------------------------------------

    async def settle(self, order: Order) -> Outcome:
        """Find out what the order's attempt in progress did at Stripe, and record it."""
        if order.payment_token is None:
            logger.error("order %s: an attempt without its token cannot be settled", order.id)
            return StillUnknown()
        attempt = order.payment_attempt
        try:
            stripe_id = await self._ask_stripe(order)
        except PaymentRefused as refused:
            await Order.end_attempt(order.order_id, attempt)
            return NothingCharged(refused.message)
        except PaymentKeyReused:
            await self._give_up_key(order)
            return NothingCharged(KEY_REUSED)
        except PaymentOutcomeUnknown as unknown:
            logger.info("order %s: attempt %d still unknown (%s)", order.id, attempt, unknown)
            return StillUnknown()
        return await self._record(order, stripe_id)

    async def _ask_stripe(self, order: Order) -> str:
        if order.payment_token is None:
            raise ValueError(f"order {order.id}: no attempt in progress")
        order_id = str(order.id)
        return await self.stripe.charge(
            token=order.payment_token,
            amount=order.price_cents,
            order_id=order_id,
            idempotency_key=idempotency_key(order_id, order.payment_attempt),
        )

    async def _give_up_key(self, order: Order) -> None:
        """Stripe refused the key as used with other parameters. The claim stores the token
        and the amount before the key is ever sent, so this cannot come from our own attempt;
        it is logged for an operator, and the next attempt gets a new key."""
        logger.error(
            "order %s: Stripe refused idempotency key %s as reused; check Stripe",
            order.id,
            idempotency_key(str(order.id), order.payment_attempt),
        )
        await Order.end_attempt(order.order_id, order.payment_attempt)

    async def _record(self, order: Order, stripe_id: str) -> Charged:
        order_id = str(order.id)
        payment = Payment(order_id=order_id, stripe_id=stripe_id)
        try:
            await payment.insert_with_event(Payment.created_event)
        except DuplicateKeyError:
            stored = await Payment.find_one(Payment.order_id == order_id)
            if stored is None:
                raise RuntimeError(f"the payment of order {order_id} vanished") from None
            await Order.mark_paid(order.order_id)
            return Charged(stored, recorded_now=False)
        await Order.mark_paid(order.order_id)
        logger.info("order %s paid: %s", order_id, stripe_id)
        return Charged(payment, recorded_now=True)

    # -- refunds and reconciliation ---------------------------------------------------------

    async def refund_if_owed(self, order_id: PydanticObjectId) -> bool:
        """Give back the payment of a cancelled order, once. True when the order's payment
        is (now) refunded; False when nothing is owed (not cancelled, or never paid)."""
        order = await Order.get(order_id)
        if order is None or order.status != OrderStatus.CANCELLED:
            return False
        payment = await Payment.find_one(Payment.order_id == str(order_id))
        if payment is None:
            return False
        if not payment.refunded:
            refund_id = await self.stripe.refund(
                stripe_id=payment.stripe_id,
                order_id=str(order_id),
                idempotency_key=refund_idempotency_key(str(order_id)),
            )
            await payment.mark_refunded(refund_id)
            logger.warning(
                "order %s was cancelled after being paid: payment %s (stripe %s) refunded (%s)",
                order_id,
                payment.id,
                payment.stripe_id,
                refund_id or "already refunded at Stripe",
            )
        await Order.mark_refunded(order_id)
        return True

    async def reconcile(self) -> ReconcileReport:
        """One pass: settle abandoned attempts, refund cancelled orders that are still paid."""
        report = ReconcileReport()
        for order in await Order.stale_claims():
            order_id = str(order.id)
            try:
                outcome = await self.settle(order)
                if isinstance(outcome, Charged):
                    report.recorded.append(order_id)
                    if await self.refund_if_owed(order.order_id):
                        report.refunded.append(order_id)
                elif isinstance(outcome, NothingCharged):
                    report.released.append(order_id)
                else:
                    report.unknown.append(order_id)
            except Exception:
                logger.exception("reconciling the payment attempt of order %s failed", order_id)
                report.failed.append(order_id)
        for order in await Order.paid_but_cancelled():
            try:
                await self.refund_if_owed(order.order_id)
                report.refunded.append(str(order.id))
            except Exception:
                logger.exception("refunding cancelled order %s failed", order.id)
                report.failed.append(str(order.id))
        if report:
            logger.info("payments reconciled: %s", report)
        return report
