"""What the HTTP APIs answer, declared for the code and for the OpenAPI alike.

A route returns a response model (a `ResponseModel`: snake_case in Python, camelCase on the
wire, as the events) built straight from the stored document's fields; FastAPI takes an
instance of the route's response model as it is (no second validation) and writes it to JSON
in one pass. Failures are answered by `common.errors` in the one error shape; a route names
the ones it can give with `error_responses`, so its OpenAPI lists them.
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12


class ResponseModel(BaseModel):
    """A JSON body a route answers with."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        json_schema_serialization_defaults_required=True,
    )


class ErrorDetail(TypedDict):
    """One thing wrong with the request."""

    message: str
    field: NotRequired[str]
    """The request field it concerns (`title`, `ticketId`, `limit`, ...), when there is one."""


class ErrorResponse(TypedDict):
    """Every failure, whatever the service: `{"errors": [{"message", "field"?}]}`."""

    errors: list[ErrorDetail]


ERROR_DESCRIPTIONS = {
    400: "The request is invalid (one entry per bad field, `field` set), or it breaks a "
    "business rule (a sentence saying why)",
    401: "`Not authorized`: not signed in, or not the owner",
    404: "`Not Found` (also for a malformed id in the path)",
    409: "The resource kept changing under the request (after several fresh retries)",
    429: "Too many failed sign-ins: try again after `Retry-After` seconds",
    503: "Something the request needs (the database, the card processor) is unavailable: "
    "try again shortly",
}
"""The contract's meaning of each error status (section 3)."""

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until an attempt may be made again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route that can answer these error statuses."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "model": ErrorResponse,
            "description": ERROR_DESCRIPTIONS[status],
        }
        if status == 429:
            response["headers"] = RETRY_AFTER
        responses[status] = response
    return responses
