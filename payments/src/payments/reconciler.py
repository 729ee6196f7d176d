"""The background pass that makes sure no charge is forgotten, in every replica.

Every `interval` seconds (and at start-up) it settles payment attempts whose holder stopped
renewing its claim - the process died mid-charge - and refunds cancelled orders that are
still paid (see `PaymentService.reconcile`). Several replicas may run it at once: settling
and refunding are idempotent at Stripe and in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from payments.metrics import RECONCILE_PASSES, count_reconciliation
from payments.service import PaymentService

logger = logging.getLogger(__name__)

RECONCILE_INTERVAL_SECONDS = 5.0


class Reconciler:
    def __init__(
        self, payments: PaymentService, interval: float = RECONCILE_INTERVAL_SECONDS
    ) -> None:
        self.payments = payments
        self.interval = interval

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                count_reconciliation(await self.payments.reconcile())
            except Exception:
                RECONCILE_PASSES.labels("failed").inc()
                logger.exception("payments reconciliation pass failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)
