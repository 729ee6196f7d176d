from pydantic import Field

from common.settings import NatsSettings


class ExpirationSettings(NatsSettings):
    """The expiration worker has no session routes, so no `JWT_KEY`: NATS, Redis and a port."""

    REDIS_URL: str = Field(min_length=1)
    PORT: int = 3000
    HOST: str = "0.0.0.0"
