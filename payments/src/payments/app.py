"""The payments service: charges orders through Stripe, and never forgets a charge."""

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI

from common.events.listener import Listener
from common.events.publisher import EventPublisher
from common.events.subjects import Subjects
from common.service import Background, ServiceSpec
from payments.dependencies import PaymentsDependencies, payments_dependencies
from payments.events.listeners.order_cancelled import OrderCancelledListener
from payments.events.listeners.order_completed import OrderCompletedListener
from payments.events.listeners.order_created import OrderCreatedListener
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
