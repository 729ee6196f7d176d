import asyncio

from fastapi import FastAPI

from common.events.publisher import EventPublisher
from common.service import Connections, ServiceSpec, create_service_app
from payments.events.listeners.order_cancelled import OrderCancelledListener
from payments.events.listeners.order_created import OrderCreatedListener
from payments.models import Order, Payment
from payments.reconciler import RECONCILE_INTERVAL_SECONDS, Reconciler
from payments.routes import router
from payments.service import PaymentService
from payments.settings import PaymentsSettings
from payments.stripe_gateway import StripeGateway


def create_app(
    settings: PaymentsSettings,
    publisher: EventPublisher | None = None,
    *,
    reconcile_interval: float = RECONCILE_INTERVAL_SECONDS,
) -> FastAPI:
    """The service; `publisher` replaces NATS (tests)."""
    stop_reconciling = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def on_startup(app: FastAPI) -> None:
        # No await before the listeners have the service: none of them has run yet.
        app.state.stripe = StripeGateway(settings.STRIPE_KEY, settings.STRIPE_API_BASE)
        app.state.payments = PaymentService(app.state.stripe, app.state.relay)
        for listener in app.state.listeners:
            if isinstance(listener, OrderCancelledListener):
                listener.payments = app.state.payments
        stop_reconciling.clear()
        reconciler = Reconciler(app.state.payments, reconcile_interval)
        tasks.append(asyncio.create_task(reconciler.run(stop_reconciling)))

    async def on_shutdown(app: FastAPI) -> None:
        stop_reconciling.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await app.state.stripe.close()

    spec = ServiceSpec(
        name="payments",
        document_models=[Order, Payment],
        routers=[router],
        listeners=[OrderCreatedListener, OrderCancelledListener],
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        reads_sessions=True,
    )
    return create_service_app(
        spec,
        Connections(
            jwt_key=settings.JWT_KEY,
            session_ttl_seconds=settings.SESSION_TTL_SECONDS,
            mongo_uri=settings.MONGO_URI,
            nats_url=None if publisher is not None else settings.NATS_URL,
            nats_client_id=settings.NATS_CLIENT_ID,
            publisher=publisher,
        ),
    )
