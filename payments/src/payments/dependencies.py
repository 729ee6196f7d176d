"""What the payments service's routes, listeners and reconciliation are given, built once at
start-up: the Stripe gateway and the payment service over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from common.service import Infrastructure, dependencies_of
from payments.service import PaymentService
from payments.settings import PaymentsSettings
from payments.stripe_gateway import StripeGateway


@dataclass
class PaymentsDependencies:
    stripe: StripeGateway
    payments: PaymentService


@asynccontextmanager
async def payments_dependencies(
    settings: PaymentsSettings, _: Infrastructure
) -> AsyncIterator[PaymentsDependencies]:
    stripe = StripeGateway(settings.STRIPE_KEY, settings.STRIPE_API_BASE)
    try:
        yield PaymentsDependencies(stripe, PaymentService(stripe))
    finally:
        await stripe.close()


async def get_payment_service(request: Request) -> PaymentService:
    return dependencies_of(request, PaymentsDependencies).payments


PaymentServiceDep = Annotated[PaymentService, Depends(get_payment_service)]
