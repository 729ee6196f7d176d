"""An API service's own documentation, served under its prefix so that the ingress routes it:
the OpenAPI document at `<prefix>/openapi.json` and Swagger UI at `<prefix>/docs`.

Swagger UI's JavaScript, CSS and icon come with the service (bundled by the `fastapi-offline`
package, which automates FastAPI's "self-hosting JavaScript and CSS for docs") and are served
from `<prefix>/docs/assets`: the page loads nothing from a CDN, so it works without internet
access and depends on no third party.

The OpenAPI lists the answers the service really gives. FastAPI adds a 422 "Validation Error"
to every route that has parameters, but these services answer an invalid request with 400 in
the error shape (`common.errors`), which each route documents (`common.responses`): the 422s
and their schemas are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline

FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's own OpenTelemetry layer stays off: the services trace requests with the
OpenTelemetry instrumentation (`common.observability.tracing.instrument_app`, under which
FastAPI's layer records nothing anyway) and count them with Prometheus. Left on, it asks the
global providers on every request whether it should record."""


def create_fastapi_app(title: str, api_prefix: str | None, **options: Any) -> FastAPI:
    """The FastAPI app of a service; with an `api_prefix`, documented under it."""
    options.setdefault("telemetry", NO_NATIVE_TELEMETRY)
    if api_prefix is None:
        return FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, **options)
    app = FastAPIOffline(
        title=title,
        docs_url=f"{api_prefix}/docs",
        redoc_url=None,
        openapi_url=f"{api_prefix}/openapi.json",
        swagger_ui_oauth2_redirect_url=f"{api_prefix}/docs/oauth2-redirect",
        static_url=f"{api_prefix}/docs/assets",
        **options,
    )
    app.openapi = without_fastapi_validation_errors(app.openapi)  # type: ignore[method-assign]
    return app


def without_fastapi_validation_errors(
    generate: Callable[[], dict[str, Any]],
) -> Callable[[], dict[str, Any]]:
    """`generate` (an app's `openapi`), leaving out FastAPI's 422 answers and their schemas."""

    def openapi() -> dict[str, Any]:
        schema = generate()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        schemas = schema.get("components", {}).get("schemas", {})
        for name in FASTAPI_VALIDATION_SCHEMAS:
            schemas.pop(name, None)
        return schema

    return openapi
