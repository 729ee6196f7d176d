from pydantic import Field

from common.settings import NatsSettings, ProcessSettings


class ExpirationSettings(ProcessSettings, NatsSettings):
    """The expiration worker has no session routes, so no `JWT_KEY`: NATS, Redis and a port."""

    REDIS_URL: str = Field(min_length=1)
