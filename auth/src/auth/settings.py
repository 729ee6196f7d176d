from common.settings import MongoSettings, ServiceSettings


class AuthSettings(ServiceSettings, MongoSettings):
    COOKIE_SECURE: bool = True
    """Mark the session cookie `Secure` (off only for plain-http local runs and tests)."""
