"""The replica of orders this service needs, and the payments it made.

An order is payable while orders has not cancelled it and its reservation has not run out
(`expires_at`, from order:created): the replica hears of a cancellation only after orders
made it, so the deadline is checked here too, in the same conditional update that claims
the order for payment.

Charging an order at most once rests on three things: the replica's payment claim (an
atomic conditional update taken before Stripe is called, so of two simultaneous requests
only one reaches Stripe), the unique index on `payments.orderId`, and the Stripe
idempotency key derived from the order and its attempt number (so a request repeated
after a lost answer is answered by Stripe with the first result instead of a new charge).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from beanie import Document, Indexed, PydanticObjectId
from pydantic import field_validator
from pymongo import ReturnDocument

from common.database import OutboxDocument
from common.events.schemas import PaymentCreated
from common.events.subjects import OrderStatus

CLAIM_LEASE_SECONDS = 120.0
"""A claim older than this was left by a request that died; another request may take it
over (with the same attempt number, hence the same Stripe idempotency key)."""


class PaymentState(StrEnum):
    PAYING = "paying"
    """A request holds the claim and is talking to Stripe."""
    PAID = "paid"


class Order(Document):
    """An order as payments knows it, `_id` = the order's id. Status and version come from
    the orders service's events; the `payment_*` fields are this service's own."""

    version: int
    user_id: str
    price: float
    status: OrderStatus
    expires_at: datetime | None = None
    """When the reservation runs out (orders then cancels the unpaid order). None in a
    document stored before the replica kept it: unknown, so not refused for it."""
    payment_state: PaymentState | None = None
    payment_attempt: int = 0
    """Numbers the Stripe idempotency key; moves on only after Stripe refused a payment."""
    payment_claimed_at: float | None = None
    """Epoch seconds (a number, not a date: compared in a query filter)."""

    class Settings:
        name = "orders"

    @field_validator("expires_at")
    @classmethod
    def in_utc(cls, value: datetime | None) -> datetime | None:
        """A date read back without its zone is UTC (BSON dates are)."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def amount_cents(self) -> int:
        return round(self.price * 100)

    def has_expired(self, now: datetime | None = None) -> bool:
        """The reservation has run out (False when the deadline is unknown)."""
        return self.expires_at is not None and (now or datetime.now(UTC)) >= self.expires_at

    @classmethod
    async def claim_for_payment(cls, order_id: PydanticObjectId) -> Order | None:
        """Atomically mark the order `paying` for this request, or None if it is paid,
        being paid, cancelled or past its reservation."""
        now = time.time()
        raw = await cls.get_pymongo_collection().find_one_and_update(
            {
                "_id": order_id,
                "status": {"$ne": OrderStatus.CANCELLED.value},
                "$and": [
                    {
                        "$or": [
                            {"expires_at": None},  # also a document without the field
                            {"expires_at": {"$gt": datetime.fromtimestamp(now, UTC)}},
                        ]
                    },
                    {
                        "$or": [
                            {"payment_state": None},
                            {
                                "payment_state": PaymentState.PAYING.value,
                                "payment_claimed_at": {"$lt": now - CLAIM_LEASE_SECONDS},
                            },
                        ]
                    },
                ],
            },
            {"$set": {"payment_state": PaymentState.PAYING.value, "payment_claimed_at": now}},
            return_document=ReturnDocument.AFTER,
        )
        return None if raw is None else cls.model_validate(raw)

    @classmethod
    async def release_claim(cls, order_id: PydanticObjectId, *, new_attempt: bool) -> None:
        """Give the order back. `new_attempt` when Stripe refused (the next try needs a new
        idempotency key); without it the next try repeats this one's key, because this
        one's outcome at Stripe is unknown."""
        update: dict[str, Any] = {"$set": {"payment_state": None, "payment_claimed_at": None}}
        if new_attempt:
            update["$inc"] = {"payment_attempt": 1}
        await cls.get_pymongo_collection().update_one(
            {"_id": order_id, "payment_state": PaymentState.PAYING.value}, update
        )

    @classmethod
    async def mark_paid(cls, order_id: PydanticObjectId) -> None:
        await cls.get_pymongo_collection().update_one(
            {"_id": order_id}, {"$set": {"payment_state": PaymentState.PAID.value}}
        )


class Payment(OutboxDocument):
    order_id: Annotated[str, Indexed(unique=True)]
    stripe_id: str
    refunded: bool = False
    """Given back because orders cancelled the order (see the order:cancelled listener)."""
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

    def to_json(self) -> dict[str, str]:
        return {"id": str(self.id), "orderId": self.order_id, "stripeId": self.stripe_id}
