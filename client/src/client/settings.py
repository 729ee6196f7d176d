from pydantic import Field, field_validator

from common.settings import ServiceSettings


class ClientSettings(ServiceSettings):
    """`JWT_KEY` signs the CSRF tokens; the client never reads the session itself."""

    API_BASE_URL: str = Field(min_length=1)
    """Where server-side rendering reaches the API (the ingress), e.g. `http://localhost:8080`."""

    STRIPE_PUBLISHABLE_KEY: str | None = None
    """With a key, the order page collects the card with Stripe.js; without one (the local
    Stripe stand-in) it offers a test-card form that pays with `pm_card_visa`."""

    API_TIMEOUT_SECONDS: float = 10.0

    NATS_URL: str | None = None
    """Where the event stream is, for live pages (Server-Sent Events); without it (or while it
    cannot be reached) every page still works, without live updates."""
    NATS_CLIENT_ID: str = "client"

    @field_validator("STRIPE_PUBLISHABLE_KEY", "NATS_URL")
    @classmethod
    def empty_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None
