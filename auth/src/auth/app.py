from fastapi import FastAPI

from auth.models import RevokedSession, SigninSlot, User
from auth.routes import router
from auth.settings import AuthSettings
from common.events.publisher import EventPublisher
from common.service import Connections, ServiceSpec, create_service_app


def create_app(settings: AuthSettings, publisher: EventPublisher | None = None) -> FastAPI:
    """The auth service. A `publisher` given here replaces NATS (tests)."""
    spec = ServiceSpec(
        name="auth",
        document_models=[User, RevokedSession, SigninSlot],
        routers=[router],
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
            extra={"cookie_secure": settings.COOKIE_SECURE},
        ),
    )
