"""Probes and settings of the payments service."""

import pytest
from httpx import AsyncClient

from common.settings import load_settings
from payments.settings import PaymentsSettings

REQUIRED = {
    "JWT_KEY": "key",
    "MONGO_URI": "mongodb://127.0.0.1:27017/payments",
    "NATS_URL": "nats://127.0.0.1:4222",
    "STRIPE_KEY": "sk_test_x",
}


async def test_healthz_and_readyz(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "database": True}


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("STRIPE_API_BASE", raising=False)

    settings = load_settings(PaymentsSettings)

    assert settings.STRIPE_KEY == "sk_test_x"
    assert settings.STRIPE_API_BASE is None


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_variable_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(missing)

    with pytest.raises(SystemExit) as exit_info:
        load_settings(PaymentsSettings)

    assert exit_info.value.code == f"Missing required environment variable: {missing}"
