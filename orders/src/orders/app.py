from fastapi import FastAPI

from common.events.publisher import EventPublisher
from common.service import Connections, ServiceSpec, create_service_app
from orders.events.listeners import LISTENERS
from orders.models import Order, Ticket
from orders.routes import router
from orders.settings import OrdersSettings


def create_app(settings: OrdersSettings, publisher: EventPublisher | None = None) -> FastAPI:
    """The orders service. A `publisher` given here replaces NATS (tests)."""
    spec = ServiceSpec(
        name="orders",
        document_models=[Ticket, Order],
        routers=[router],
        listeners=LISTENERS,
        reads_sessions=True,
    )
    return create_service_app(
        spec,
        Connections(
            jwt_key=settings.JWT_KEY,
            session_ttl_seconds=settings.SESSION_TTL_SECONDS,
            mongo_uri=settings.MONGO_URI,
            nats_url=settings.NATS_URL,
            nats_client_id=settings.NATS_CLIENT_ID,
            publisher=publisher,
            extra={"expiration_window_seconds": settings.EXPIRATION_WINDOW_SECONDS},
        ),
    )
