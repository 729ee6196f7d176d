"""The replica of orders this service needs, and the payments it made.

An order is payable while orders has not cancelled it and its reservation has not run out
(`expires_at`, from order:created): the replica hears of a cancellation only after orders
made it, so the deadline is checked here too, in the same conditional update that claims
the order for payment.

Charging an order at most once rests on three things: the replica's payment claim (an
atomic conditional update taken before Stripe is called, so of two simultaneous requests
only one starts a charge), the unique index on `payments.orderId`, and the Stripe
idempotency key derived from the order and its attempt number (so the same attempt asked
again - a retry, or the settlement of a claim whose holder died - is answered by Stripe with
the first result instead of a new charge).

A claim records everything needed to ask again (the token, the attempt), so a charge that
reached Stripe is never forgotten: see `payments.settlement`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from beanie import Document, Indexed, PydanticObjectId
from pydantic import field_validator
from pymongo import ASCENDING, IndexModel, ReturnDocument

from common.events.schemas import PaymentCreated
from common.events.subjects import OrderStatus
from common.money import PricedInCents
from common.outbox import OutboxDocument

HEARTBEAT_SECONDS = 2.0
"""How often the request holding a claim renews it while it talks to Stripe."""
CLAIM_STALE_SECONDS = 10.0
"""A claim not renewed for this long was left by a request that died (or hangs): the order's
background settlement may ask Stripe about it."""


class PaymentState(StrEnum):
    PAYING = "paying"
    """An attempt was started at Stripe; its outcome is not recorded yet."""
    PAID = "paid"
    """A payment is stored for the order."""
    REFUNDED = "refunded"
    """The order was cancelled after it was paid, and the payment was given back."""


class Order(Document, PricedInCents):
    """An order as payments knows it, `_id` = the order's id. Status and version come from
    the orders service's events; the `payment_*` fields are this service's own. The price
    (`price_cents`) is the ticket's when the order was made: the amount charged."""

    version: int
    user_id: str
    status: OrderStatus
    expires_at: datetime | None = None
    """When the reservation runs out (orders then cancels the unpaid order). None in a
    document stored before the replica kept it: unknown, so not refused for it."""
    payment_state: PaymentState | None = None
    payment_attempt: int = 0
    """Numbers the Stripe idempotency key; moves on only once an attempt is known to have
    charged nothing."""
    payment_token: str | None = None
    """The card token or PaymentMethod of the attempt in progress (to ask Stripe again)."""
    payment_heartbeat_at: float | None = None
    """Epoch seconds when the attempt's holder last renewed its claim (a number, not a date:
    compared in a query filter)."""

    class Settings:
        name = "orders"
        indexes: ClassVar[list[IndexModel]] = [
            IndexModel(
                [("payment_state", ASCENDING), ("payment_heartbeat_at", ASCENDING)],
                name="payment_state",
            )
        ]

    @field_validator("expires_at")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        """A date read back without its zone is UTC (BSON dates are)."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def order_id(self) -> PydanticObjectId:
        if self.id is None:
            raise ValueError("an order replica always has the order's id")
        return self.id

    def has_expired(self, now: datetime | None = None) -> bool:
        """The reservation has run out (False when the deadline is unknown)."""
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at

    def claim_is_stale(self, now: float | None = None) -> bool:
        renewed = self.payment_heartbeat_at or 0.0
        return renewed < (now or time.time()) - CLAIM_STALE_SECONDS

    @classmethod
    async def claim_for_payment(cls, order_id: PydanticObjectId, token: str) -> Order | None:
        """Atomically start an attempt with `token` for this request, or None if the order
        is paid, being paid, cancelled or past its reservation."""
        now = time.time()
        raw = await cls.get_pymongo_collection().find_one_and_update(
            {
                "_id": order_id,
                "status": {"$ne": OrderStatus.CANCELLED.value},
                # Each condition in its own `$or`, and `None` for "null or missing": the same
                # on MongoDB, and the form the embedded stand-in evaluates correctly.
                "$and": [
                    {"$or": [{"payment_state": None}]},
                    {
                        "$or": [
                            {"expires_at": None},
                            {"expires_at": {"$gt": datetime.fromtimestamp(now, UTC)}},
                        ]
                    },
                ],
            },
            {
                "$set": {
                    "payment_state": PaymentState.PAYING.value,
                    "payment_token": token,
                    "payment_heartbeat_at": now,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return None if raw is None else cls.model_validate(raw)

    @classmethod
    async def renew_claim(cls, order_id: PydanticObjectId, attempt: int) -> None:
        await cls.get_pymongo_collection().update_one(
            cls._attempt_filter(order_id, attempt), {"$set": {"payment_heartbeat_at": time.time()}}
        )

    @classmethod
    async def end_attempt(cls, order_id: PydanticObjectId, attempt: int) -> None:
        """The attempt is known to have charged nothing: give the order back, and number the
        next attempt anew (its token may differ, so it needs its own idempotency key)."""
        await cls.get_pymongo_collection().update_one(
            cls._attempt_filter(order_id, attempt),
            {
                "$set": {
                    "payment_state": None,
                    "payment_token": None,
                    "payment_heartbeat_at": None,
                },
                "$inc": {"payment_attempt": 1},
            },
        )

    @classmethod
    async def mark_paid(cls, order_id: PydanticObjectId) -> None:
        """(A refunded order marked paid again by a late settlement is refunded - that is,
        marked refunded - again by the next reconciliation: the refund is idempotent.)"""
        await cls.get_pymongo_collection().update_one(
            {"_id": order_id},
            {"$set": {"payment_state": PaymentState.PAID.value, "payment_token": None}},
        )

    @classmethod
    async def mark_refunded(cls, order_id: PydanticObjectId) -> None:
        await cls.get_pymongo_collection().update_one(
            {"_id": order_id}, {"$set": {"payment_state": PaymentState.REFUNDED.value}}
        )

    @classmethod
    def _attempt_filter(cls, order_id: PydanticObjectId, attempt: int) -> dict[str, Any]:
        return {
            "_id": order_id,
            "payment_state": PaymentState.PAYING.value,
            "payment_attempt": attempt,
        }

    @classmethod
    async def stale_claims(cls, limit: int = 100) -> list[Order]:
        """Attempts whose holder stopped renewing them: their outcome is asked of Stripe."""
        cutoff = time.time() - CLAIM_STALE_SECONDS
        return (
            await cls.find(
                {
                    "payment_state": PaymentState.PAYING.value,
                    "payment_heartbeat_at": {"$lt": cutoff},
                }
            )
            .limit(limit)
            .to_list()
        )

    @classmethod
    async def paid_but_cancelled(cls, limit: int = 100) -> list[Order]:
        """Orders cancelled after they were paid, whose payment is not given back yet."""
        return (
            await cls.find(
                {
                    "payment_state": PaymentState.PAID.value,
                    "status": OrderStatus.CANCELLED.value,
                }
            )
            .limit(limit)
            .to_list()
        )


class Payment(OutboxDocument):
    order_id: Annotated[str, Indexed(unique=True)]
    stripe_id: str
    refunded: bool = False
    """Given back because orders cancelled the order (see `payments.settlement`)."""
    refund_id: str | None = None
    """The Stripe refund's id (None if Stripe reported the payment refunded already)."""

    class Settings:
        name = "payments"

    def created_event(self) -> PaymentCreated:
        return PaymentCreated(id=str(self.id), order_id=self.order_id, stripe_id=self.stripe_id)

    async def mark_refunded(self, refund_id: str | None) -> None:
        self.refunded, self.refund_id = True, refund_id
        await self.get_pymongo_collection().update_one(
            {"_id": self.id}, {"$set": {"refunded": True, "refund_id": refund_id}}
        )
