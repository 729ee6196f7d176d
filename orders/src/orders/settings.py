from pydantic import Field

from common.settings import MongoSettings, NatsSettings, ServiceSettings


class OrdersSettings(ServiceSettings, MongoSettings, NatsSettings):
    """JWT_KEY, PORT, MONGO_URI, NATS_URL, NATS_CLIENT_ID (see the contract, section 2)."""

    EXPIRATION_WINDOW_SECONDS: int = Field(default=900, gt=0)
    """How long an order holds its ticket before it expires (15 minutes)."""
