"""The payments service's own metrics: Stripe calls by outcome and latency, and what the
reconciliation passes found (a failure there is alerted on: infra/monitoring/)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import stripe
from prometheus_client import Counter, Histogram

if TYPE_CHECKING:
    from payments.service import ReconcileReport

STRIPE_CALLS = Counter(
    "ticketing_stripe_calls",
    "Calls to Stripe by operation and outcome (ok, refused, error)",
    ["operation", "outcome"],
)
STRIPE_DURATION = Histogram(
    "ticketing_stripe_call_duration_seconds",
    "Time Stripe took to answer, by operation",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RECONCILED = Counter(
    "ticketing_payments_reconciled",
    "Payment attempts and refunds settled by reconciliation, by result "
    "(recorded, released, unknown, refunded, failed)",
    ["result"],
)
RECONCILE_PASSES = Counter(
    "ticketing_payments_reconcile_passes",
    "Reconciliation passes, by outcome (ok, failed: the pass itself raised)",
    ["outcome"],
)


@asynccontextmanager
async def stripe_call(operation: str) -> AsyncIterator[None]:
    """Count and time one call to Stripe. A card error is `refused`; any other failure (the
    network, Stripe itself) is `error`."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    except (stripe.CardError, stripe.InvalidRequestError):
        outcome = "refused"
        raise
    finally:
        STRIPE_CALLS.labels(operation, outcome).inc()
        STRIPE_DURATION.labels(operation).observe(time.perf_counter() - started)


def count_reconciliation(report: ReconcileReport) -> None:
    RECONCILE_PASSES.labels("ok").inc()
    for result in ("recorded", "released", "unknown", "refunded", "failed"):
        settled = len(getattr(report, result))
        if settled:
            RECONCILED.labels(result).inc(settled)
