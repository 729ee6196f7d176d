"""The auth service: users, passwords and the session cookie."""

from fastapi import FastAPI

from auth.dependencies import AuthDependencies, auth_dependencies
from auth.models import RevokedSession, SigninSlot, User
from auth.routes import router
from auth.settings import AuthSettings
from common.events.publisher import EventPublisher
from common.service import ServiceSpec

SERVICE: ServiceSpec[AuthSettings, AuthDependencies] = ServiceSpec(
    name="auth",
    api_prefix="/api/users",
    settings=AuthSettings,
    dependencies=auth_dependencies,
    document_models=[User, RevokedSession, SigninSlot],
    routers=[router],
    reads_sessions=True,
)


def create_app(settings: AuthSettings, publisher: EventPublisher | None = None) -> FastAPI:
    """The auth service. A `publisher` given here replaces NATS (tests)."""
    return SERVICE.create_app(settings, publisher=publisher)
