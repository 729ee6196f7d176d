"""The tickets service: tickets for sale, locked and unlocked by orders' events."""

from fastapi import FastAPI

from common.events.publisher import EventPublisher
from common.events.subjects import Subjects
from common.service import ServiceSpec
from tickets.dependencies import TicketsDependencies, tickets_dependencies
from tickets.events.listeners import listeners
from tickets.models import Ticket
from tickets.routes import router
from tickets.settings import TicketsSettings

SERVICE: ServiceSpec[TicketsSettings, TicketsDependencies] = ServiceSpec(
    name="tickets",
    api_prefix="/api/tickets",
    settings=TicketsSettings,
    dependencies=tickets_dependencies,
    document_models=[Ticket],
    routers=[router],
    listeners=listeners,
    publishes=[Subjects.TICKET_CREATED, Subjects.TICKET_UPDATED],
    reads_sessions=True,
    readiness=lambda dependencies: dependencies.tickets.for_sale.readiness(),
)


def create_app(settings: TicketsSettings, publisher: EventPublisher | None = None) -> FastAPI:
    """The tickets service. A `publisher` given here replaces NATS (tests)."""
    return SERVICE.create_app(settings, publisher=publisher)
