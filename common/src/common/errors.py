"""Error types and the one JSON shape every service answers failures with.

`{"errors": [{"message": str, "field": str (optional)}]}` — never FastAPI's `{"detail": ...}`
and never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, PyMongoError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

ErrorEntry = dict[str, str]


class CustomError(Exception):
    """Base of every error a route may raise on purpose; it knows its status and its body."""

    status_code: int = 500

    def serialize_errors(self) -> list[ErrorEntry]:
        raise NotImplementedError

    def headers(self) -> dict[str, str]:
        """Headers the answer carries besides its JSON body."""
        return {}


class RequestValidationFailed(CustomError):
    status_code = 400

    def __init__(self, errors: list[ErrorEntry]) -> None:
        super().__init__("Invalid request parameters")
        self.errors = errors

    def serialize_errors(self) -> list[ErrorEntry]:
        return self.errors


class BadRequestError(CustomError):
    """A business rule was broken (email in use, ticket reserved, ...)."""

    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def serialize_errors(self) -> list[ErrorEntry]:
        entry = {"message": self.message}
        if self.field:
            entry["field"] = self.field
        return [entry]


class NotAuthorizedError(CustomError):
    status_code = 401

    def serialize_errors(self) -> list[ErrorEntry]:
        return [{"message": "Not authorized"}]


class NotFoundError(CustomError):
    status_code = 404

    def serialize_errors(self) -> list[ErrorEntry]:
        return [{"message": "Not Found"}]


class ConflictError(CustomError):
    """The resource changed under the request (optimistic concurrency lost)."""

    status_code = 409

    def __init__(self, message: str = "The resource was changed by another request") -> None:
        super().__init__(message)
        self.message = message

    def serialize_errors(self) -> list[ErrorEntry]:
        return [{"message": self.message}]


class ServiceUnavailableError(CustomError):
    """Something the request needs (the database, the card processor) cannot serve it now;
    the client may retry."""

    status_code = 503

    def __init__(
        self, message: str = "The database is unavailable. Please try again shortly."
    ) -> None:
        super().__init__(message)
        self.message = message

    def serialize_errors(self) -> list[ErrorEntry]:
        return [{"message": self.message}]


class TooManyRequests(CustomError):
    """Too many attempts; the client may try again after `retry_after` seconds."""

    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = max(1, retry_after)

    def serialize_errors(self) -> list[ErrorEntry]:
        return [{"message": self.message}]

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def _causes(error: BaseException) -> list[BaseException]:
    """`error` and what it was raised from or while handling, innermost last."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def database_unreachable(error: BaseException) -> bool:
    """The database did not answer at all: down, paused, or cut off (server selection or a
    connection failed or timed out). Waiting and trying again is the only remedy."""
    return any(isinstance(e, ConnectionFailure) for e in _causes(error))


def database_unavailable(error: BaseException) -> bool:
    """The database could not serve the operation within the client's time limit: it is
    unreachable, or it answered that the operation ran out of time."""
    return any(
        isinstance(e, ConnectionFailure) or (isinstance(e, PyMongoError) and e.timeout)
        for e in _causes(error)
    )


def error_response(
    status_code: int, errors: list[ErrorEntry], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(status_code=status_code, content={"errors": errors}, headers=headers)


def _validation_entries(errors: Any) -> list[ErrorEntry]:
    entries: list[ErrorEntry] = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
        if error.get("type") == "json_invalid":
            entries.append({"message": "Request body is not valid JSON", "field": "body"})
            continue
        message = str(error.get("msg", "Invalid value"))
        message = message.removeprefix("Value error, ")
        entries.append({"message": message, "field": ".".join(loc) if loc else "body"})
    return entries


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure of `app` answer in the contract's error shape."""

    @app.exception_handler(CustomError)
    async def custom_error(_: Request, exc: CustomError) -> JSONResponse:
        return error_response(exc.status_code, exc.serialize_errors(), exc.headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_entries(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, NotFoundError().serialize_errors())
        return error_response(exc.status_code, [{"message": str(exc.detail)}])

    @app.exception_handler(PyMongoError)
    async def database_error(request: Request, exc: PyMongoError) -> JSONResponse:
        return _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        return _unexpected(request, exc)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    """503 when the database is unavailable (the client may retry), else 500."""
    if database_unavailable(exc):
        logger.warning("Database unavailable on %s %s: %s", request.method, request.url.path, exc)
        unavailable = ServiceUnavailableError()
        return error_response(unavailable.status_code, unavailable.serialize_errors())
    logger.exception("Unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, [{"message": "Something went wrong"}])
