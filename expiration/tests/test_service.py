"""Probes and settings of the expiration service."""

from typing import Any

import pytest
from httpx import AsyncClient

from common.service import ServiceSpec
from common.settings import load_settings
from expiration.settings import ExpirationSettings
from testsupport.apps import NO_NATS, serving
from testsupport.doubles import RecordingPublisher
from testsupport.servers import free_port


async def test_healthz_and_readyz_when_redis_is_up(client: AsyncClient) -> None:
    health = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "redis": True, "worker": True}


async def test_not_ready_while_redis_is_unreachable(service: ServiceSpec[Any, Any]) -> None:
    settings = ExpirationSettings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", NATS_URL=NO_NATS)
    async with serving(service.create_app(settings, publisher=RecordingPublisher())) as client:
        health = await client.get("/healthz")
        ready = await client.get("/readyz")

    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["redis"] is False


def test_settings_need_redis_and_nats_but_no_jwt_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_KEY", raising=False)
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4222")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("PORT", "4100")

    settings = load_settings(ExpirationSettings)

    assert settings.REDIS_URL == "redis://127.0.0.1:6379/0"
    assert settings.PORT == 4100


def test_a_missing_redis_url_stops_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:4222")
    monkeypatch.delenv("REDIS_URL", raising=False)

    with pytest.raises(SystemExit) as exit_info:
        load_settings(ExpirationSettings)

    assert exit_info.value.code == "Missing required environment variable: REDIS_URL"
