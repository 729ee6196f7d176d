from fastapi import FastAPI

from common.events.publisher import EventPublisher
from common.service import Connections, ServiceSpec, create_service_app
from tickets.events.listeners import LISTENERS
from tickets.models import Ticket, ensure_listing_index
from tickets.routes import router
from tickets.settings import TicketsSettings


async def on_startup(_: FastAPI) -> None:
    await ensure_listing_index()


def create_app(settings: TicketsSettings, publisher: EventPublisher | None = None) -> FastAPI:
    """The tickets service. A `publisher` given here replaces NATS (tests)."""
    spec = ServiceSpec(
        name="tickets",
        document_models=[Ticket],
        routers=[router],
        listeners=LISTENERS,
        on_startup=on_startup,
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
        ),
    )
