"""Every failure answers `{"errors": [...]}` with the contract's status."""

import logging

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from pymongo.errors import (
    AutoReconnect,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
    WaitQueueTimeoutError,
)

from common.errors import (
    BadRequestError,
    NotAuthorizedError,
    NotFoundError,
    TooManyRequests,
    database_unavailable,
    database_unreachable,
    install_error_handlers,
)

DATABASE_ERRORS: dict[str, PyMongoError] = {
    "server-selection": ServerSelectionTimeoutError("127.0.0.1:27017: connection refused"),
    "network-timeout": NetworkTimeout("127.0.0.1:27017: timed out"),
    "connection-reset": AutoReconnect("127.0.0.1:27017: connection reset by peer"),
    "pool-wait": WaitQueueTimeoutError("timed out waiting for a connection"),
    "server-time-limit": ExecutionTimeout("operation exceeded time limit", 50),
    "duplicate-key": DuplicateKeyError("E11000 duplicate key", 11000),
    "bad-query": OperationFailure("unknown operator: $bogus", 2),
}


class Body(BaseModel):
    title: str = Field(min_length=1)
    price: float = Field(gt=0)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/items")
    async def create(body: Body) -> dict[str, str]:
        return {"title": body.title}

    @app.get("/bad")
    async def bad() -> None:
        raise BadRequestError("Ticket is already reserved")

    @app.get("/field")
    async def field() -> None:
        raise BadRequestError("Email in use", field="email")

    @app.get("/private")
    async def private() -> None:
        raise NotAuthorizedError()

    @app.get("/missing")
    async def missing() -> None:
        raise NotFoundError()

    @app.get("/throttled")
    async def throttled() -> None:
        raise TooManyRequests("Too many failed sign-ins; try again later", retry_after=42)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.get("/database/{name}")
    async def database(name: str) -> None:
        raise DATABASE_ERRORS[name]

    @app.get("/wrapped-outage")
    async def wrapped_outage() -> None:
        try:
            raise ServerSelectionTimeoutError("no server")
        except PyMongoError as error:
            raise RuntimeError("could not load the ticket") from error

    return app


@pytest.fixture
async def client() -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_validation_errors_are_400_with_one_entry_per_field(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/items", json={"title": "", "price": -1})
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"title", "price"}
    assert all(e["message"] for e in errors)


async def test_missing_fields_are_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/items", json={})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"title", "price"}


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "errors": [{"message": "Request body is not valid JSON", "field": "body"}]
    }


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/bad", 400, {"errors": [{"message": "Ticket is already reserved"}]}),
        ("/field", 400, {"errors": [{"message": "Email in use", "field": "email"}]}),
        ("/private", 401, {"errors": [{"message": "Not authorized"}]}),
        ("/missing", 404, {"errors": [{"message": "Not Found"}]}),
        ("/no/such/route", 404, {"errors": [{"message": "Not Found"}]}),
    ],
)
async def test_errors_have_the_contract_shape(
    client: httpx.AsyncClient, path: str, status: int, body: dict[str, object]
) -> None:
    response = await client.get(path)
    assert response.status_code == status
    assert response.json() == body


async def test_unexpected_errors_are_500_without_details(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {"errors": [{"message": "Something went wrong"}]}
    assert "secret internals" not in response.text
    assert "secret internals" in caplog.text


async def test_wrong_method_keeps_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/bad")
    assert response.status_code == 405
    assert list(response.json()) == ["errors"]


async def test_too_many_requests_is_429_with_retry_after(client: httpx.AsyncClient) -> None:
    response = await client.get("/throttled")
    assert response.status_code == 429
    assert response.json() == {"errors": [{"message": "Too many failed sign-ins; try again later"}]}
    assert response.headers["Retry-After"] == "42"


def test_retry_after_is_at_least_one_second() -> None:
    assert TooManyRequests("later", retry_after=0).headers() == {"Retry-After": "1"}


@pytest.mark.parametrize(
    "name",
    ["server-selection", "network-timeout", "connection-reset", "pool-wait", "server-time-limit"],
)
async def test_a_database_outage_is_503_in_the_error_shape(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.get(f"/database/{name}")
    assert response.status_code == 503
    [entry] = response.json()["errors"]
    assert entry == {"message": "The database is unavailable. Please try again shortly."}
    assert "27017" not in response.text


async def test_an_outage_raised_as_the_cause_of_another_error_is_503(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/wrapped-outage")
    assert response.status_code == 503
    assert list(response.json()) == ["errors"]


@pytest.mark.parametrize("name", ["duplicate-key", "bad-query"])
async def test_other_database_errors_are_500_without_details(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await client.get(f"/database/{name}")
    assert response.status_code == 500
    assert response.json() == {"errors": [{"message": "Something went wrong"}]}
    assert str(DATABASE_ERRORS[name]) in caplog.text


def test_unreachable_is_only_a_database_that_does_not_answer() -> None:
    unreachable = {n for n, e in DATABASE_ERRORS.items() if database_unreachable(e)}
    unavailable = {n for n, e in DATABASE_ERRORS.items() if database_unavailable(e)}
    assert unreachable == {"server-selection", "network-timeout", "connection-reset", "pool-wait"}
    # The server answered that the operation ran out of time: unavailable, but reachable.
    assert unavailable == unreachable | {"server-time-limit"}
    assert not database_unavailable(RuntimeError("unrelated"))
