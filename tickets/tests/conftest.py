"""The tickets service started on a fresh database, its events recorded (`app`, `client` and
`deliver` come from `testsupport.plugin`)."""

from typing import Any

import pytest

from common.service import ServiceSpec
from testsupport.apps import NO_NATS
from tickets.app import SERVICE
from tickets.settings import TicketsSettings


@pytest.fixture
def service() -> ServiceSpec[Any, Any]:
    return SERVICE


@pytest.fixture
def settings(jwt_key: str, mongo_uri: str) -> TicketsSettings:
    return TicketsSettings(JWT_KEY=jwt_key, MONGO_URI=mongo_uri, NATS_URL=NO_NATS)
