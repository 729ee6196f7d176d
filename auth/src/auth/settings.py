from common.settings import MongoSettings, NatsSettings, ServiceSettings


class AuthSettings(ServiceSettings, MongoSettings, NatsSettings):
    """JWT_KEY, SESSION_TTL_SECONDS, PORT, MONGO_URI, NATS_URL (revoked sessions are shared
    over NATS), NATS_CLIENT_ID (see the contract, section 2)."""

    COOKIE_SECURE: bool = True
    """Mark the session cookie `Secure` (off only for plain-http local runs and tests)."""
