from common.settings import MongoSettings, NatsSettings, ServiceSettings


class TicketsSettings(ServiceSettings, MongoSettings, NatsSettings):
    """JWT_KEY, PORT, MONGO_URI, NATS_URL, NATS_CLIENT_ID (see the contract, section 2)."""
