from pydantic import Field

from common.settings import MongoSettings, NatsSettings, ServiceSettings


class PaymentsSettings(ServiceSettings, MongoSettings, NatsSettings):
    STRIPE_KEY: str = Field(min_length=1)
    """Stripe secret key (`sk_...`)."""
    STRIPE_API_BASE: str | None = None
    """Where the Stripe API is, when not Stripe itself (a local stand-in)."""
