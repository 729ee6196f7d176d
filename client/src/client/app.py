"""The web client: server-rendered pages over the API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import RequestResponseEndpoint

from client.dependencies import ClientDependencies, client_dependencies
from client.errors import install_html_error_handlers
from client.pages import STATIC_DIR
from client.routes import router
from client.settings import ClientSettings
from common.service import ServiceSpec

STRIPE_JS = "https://js.stripe.com https://*.js.stripe.com"


def content_security_policy(stripe: bool) -> str:
    """Everything comes from the client itself; Stripe.js only when a publishable key is set
    (with the sources Stripe documents for Elements)."""
    script = f"'self' {STRIPE_JS}" if stripe else "'self'"
    frame = f"{STRIPE_JS} https://hooks.stripe.com" if stripe else "'none'"
    connect = "'self' https://api.stripe.com" if stripe else "'self'"
    style = "'self' 'unsafe-inline'" if stripe else "'self'"
    return (
        f"default-src 'self'; script-src {script}; frame-src {frame}; connect-src {connect}; "
        f"style-src {style}; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def configure(app: FastAPI, settings: ClientSettings) -> None:
    """HTML error pages, static files and the security headers of every page."""
    install_html_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    policy = content_security_policy(settings.STRIPE_PUBLISHABLE_KEY is not None)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/static/") and "v" in request.query_params:
            # The URL names the content (static_url adds its hash), so it never goes stale.
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def service(
    transport: httpx.AsyncBaseTransport | None = None,
) -> ServiceSpec[ClientSettings, ClientDependencies]:
    """`transport` replaces the network to the API (tests fake the API with it)."""
    return ServiceSpec(
        name="client",
        settings=ClientSettings,
        dependencies=client_dependencies(transport),
        routers=[router],
        configure=configure,
        background=lambda dependencies: [dependencies.live.run],
    )


SERVICE = service()


def create_app(
    settings: ClientSettings, transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """The client. `transport` replaces the network to the API (tests fake the API with it)."""
    return service(transport).create_app(settings)
