from fastapi import FastAPI

from auth.models import User
from auth.routes import router
from auth.settings import AuthSettings
from common.service import Connections, ServiceSpec, create_service_app


def create_app(settings: AuthSettings) -> FastAPI:
    spec = ServiceSpec(name="auth", document_models=[User], routers=[router])
    return create_service_app(
        spec,
        Connections(
            jwt_key=settings.JWT_KEY,
            mongo_uri=settings.MONGO_URI,
            extra={"cookie_secure": settings.COOKIE_SECURE},
        ),
    )
