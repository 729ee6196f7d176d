"""Settings read from the environment, with the contract's variable names.

The settings models are the one list of the variables a service reads: the local platform
and the infrastructure tests derive theirs from them (`variables`, `required_variables`).
A missing required variable stops the service with one line naming it; every variable the
contract does not name is optional, with a default that works locally.
"""

from __future__ import annotations

import sys
from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.session import DEFAULT_SESSION_TTL_SECONDS


class ProcessSettings(BaseSettings):
    """What every service process reads: where it listens, and how much it logs."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    PORT: int = 3000
    HOST: str = "0.0.0.0"  # noqa: S104  # a container listens on its own interfaces
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["json", "console"] = "json"
    """One JSON object per line (production); `console`: readable lines (`make dev`)."""


class ServiceSettings(ProcessSettings):
    """What every HTTP service needs: the JWT key and the session lifetime."""

    JWT_KEY: str = Field(min_length=1)
    SESSION_TTL_SECONDS: int = Field(default=DEFAULT_SESSION_TTL_SECONDS, gt=0)
    """How long a session lasts: auth issues tokens with it; a service that reads sessions
    keeps revocations at least that long."""


class MongoSettings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    MONGO_URI: str = Field(min_length=1)


class StreamSettings(BaseSettings):
    """The deployment's choices for the stream, shared by every service (optional)."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    NATS_STREAM_REPLICAS: int = Field(default=1, ge=1, le=5)
    """Copies of the stream (and its consumers) on distinct servers: 3 on a 3-node cluster."""
    NATS_STREAM_MAX_AGE_SECONDS: int = Field(default=7 * 24 * 3600, gt=600)
    """Events older than this are discarded: a consumer away for longer misses them (more
    than the stream's 10-minute duplicate window)."""
    NATS_STREAM_MAX_BYTES: int = Field(default=1024**3, gt=0)
    """The stream's size limit, kept below its volume's: the oldest events go first."""


class NatsSettings(StreamSettings):
    """Where NATS is (`NATS_URL` may list several servers: `nats://a:4222,nats://b:4222`), and
    the stream's settings every service shares."""

    NATS_URL: str = Field(min_length=1)
    NATS_CLIENT_ID: str = "local"


S = TypeVar("S", bound=BaseSettings)


def variables(settings: type[BaseSettings]) -> frozenset[str]:
    """The environment variables `settings` reads."""
    return frozenset(settings.model_fields)


def required_variables(settings: type[BaseSettings]) -> frozenset[str]:
    """Those of them without a default."""
    return frozenset(name for name, info in settings.model_fields.items() if info.is_required())


def describe_settings_error(error: ValidationError) -> str:
    names = [str(e["loc"][0]) for e in error.errors() if e.get("loc")]
    missing = [n for n, e in zip(names, error.errors(), strict=False) if e["type"] == "missing"]
    if missing:
        return f"Missing required environment variable: {', '.join(missing)}"
    return f"Invalid environment variable: {', '.join(names) or error}"


def load_settings(cls: type[S]) -> S:
    """Read `cls` from the environment or exit with one line naming what is wrong."""
    try:
        return cls()
    except ValidationError as error:
        sys.exit(describe_settings_error(error))
