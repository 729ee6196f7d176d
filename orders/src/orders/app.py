"""The orders service: buyers' orders, and the replica of the tickets they are for."""

from fastapi import FastAPI

from common.events.publisher import EventPublisher
from common.events.subjects import Subjects
from common.service import ServiceSpec
from orders.dependencies import OrdersDependencies, orders_dependencies
from orders.events.listeners import listeners
from orders.models import Order, Ticket
from orders.routes import router
from orders.settings import OrdersSettings

SERVICE: ServiceSpec[OrdersSettings, OrdersDependencies] = ServiceSpec(
    name="orders",
    api_prefix="/api/orders",
    settings=OrdersSettings,
    dependencies=orders_dependencies,
    document_models=[Ticket, Order],
    routers=[router],
    listeners=listeners,
    publishes=[Subjects.ORDER_CREATED, Subjects.ORDER_CANCELLED, Subjects.ORDER_COMPLETED],
    reads_sessions=True,
)


def create_app(settings: OrdersSettings, publisher: EventPublisher | None = None) -> FastAPI:
    """The orders service. A `publisher` given here replaces NATS (tests)."""
    return SERVICE.create_app(settings, publisher=publisher)
