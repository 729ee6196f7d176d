"""The payments service: charges orders through Stripe, and never forgets a charge."""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI

from common.admin.responder import AdminCommand
from common.events.listener import Listener
from common.events.publisher import EventPublisher
from common.events.subjects import Subjects
from common.service import Background, ServiceSpec
from payments.dependencies import PaymentsDependencies, payments_dependencies
from payments.events.listeners.order_cancelled import OrderCancelledListener
from payments.events.listeners.order_completed import OrderCompletedListener
from payments.events.listeners.order_created import OrderCreatedListener
from payments.metrics import count_reconciliation
from payments.models import Order, Payment
from payments.reconciler import RECONCILE_INTERVAL_SECONDS, Reconciler
from payments.routes import router
from payments.settings import PaymentsSettings


def listeners(dependencies: PaymentsDependencies) -> Sequence[Listener[Any]]:
    return [
        OrderCreatedListener(),
        OrderCancelledListener(dependencies.payments),
        OrderCompletedListener(),
    ]


def admin_commands(dependencies: PaymentsDependencies) -> Mapping[str, AdminCommand]:
    """`ticketing-admin payments reconcile`: one reconciliation pass now, and its report."""

    async def reconcile() -> dict[str, list[str]]:
        report = await dependencies.payments.reconcile()
        count_reconciliation(report)
        return dataclasses.asdict(report)

    return {"reconcile": reconcile}


def service(
    reconcile_interval: float = RECONCILE_INTERVAL_SECONDS,
) -> ServiceSpec[PaymentsSettings, PaymentsDependencies]:
    def background(dependencies: PaymentsDependencies) -> Sequence[Background]:
        return [Reconciler(dependencies.payments, reconcile_interval).run]

    return ServiceSpec(
        name="payments",
        api_prefix="/api/payments",
        settings=PaymentsSettings,
        dependencies=payments_dependencies,
        document_models=[Order, Payment],
        routers=[router],
        listeners=listeners,
        background=background,
        publishes=[Subjects.PAYMENT_CREATED],
        reads_sessions=True,
        admin_commands=admin_commands,
    )


SERVICE = service()


def create_app(
    settings: PaymentsSettings,
    publisher: EventPublisher | None = None,
    *,
    reconcile_interval: float = RECONCILE_INTERVAL_SECONDS,
) -> FastAPI:
    """The service; `publisher` replaces NATS (tests), `reconcile_interval` is how often the
    reconciliation runs (seconds)."""
    return service(reconcile_interval).create_app(settings, publisher=publisher)
