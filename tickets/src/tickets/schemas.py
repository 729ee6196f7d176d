"""Request bodies and query parameters, with the contract's messages (section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from beanie import PydanticObjectId
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.database import parse_object_id
from common.errors import RequestValidationFailed
from common.money import (
    MAX_PRICE_CENTS,
    MIN_PRICE_CENTS,
    PRICE_RULE,
    NotAnAmount,
    exact_decimal,
    to_cents,
)


class TicketBody(BaseModel):
    """`{title, price}` of a new or updated ticket."""

    model_config = ConfigDict(extra="ignore")

    title: str
    price_cents: int = Field(alias="price")

    @model_validator(mode="before")
    @classmethod
    def missing_is_invalid(cls, data: Any) -> Any:
        """A missing field gets the same message as a bad one."""
        if isinstance(data, dict):
            return {"title": None, "price": None, **data}
        return data

    @field_validator("title", mode="before")
    @classmethod
    def title_required(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("Title is required")
        return value.strip()

    @field_validator("price_cents", mode="before")
    @classmethod
    def price_in_cents(cls, value: Any) -> int:
        """A number (or numeric string) with at most 2 decimals, 0.50 to 1,000,000."""
        try:
            cents = to_cents(exact_decimal(value))
        except NotAnAmount:
            raise ValueError(PRICE_RULE) from None
        if not MIN_PRICE_CENTS <= cents <= MAX_PRICE_CENTS:
            raise ValueError(PRICE_RULE)
        return cents


MAX_PAGE = 100


@dataclass
class Page:
    """`?limit=&after=`: at most `limit` tickets whose id comes after `after` (cursor paging)."""

    limit: int | None = None
    after: PydanticObjectId | None = None


def page_params(limit: str | None = None, after: str | None = None) -> Page:
    """The paging query parameters, or a 400 naming each bad one."""
    errors: list[dict[str, str]] = []
    page = Page()
    if limit is not None:
        try:
            page.limit = int(limit)
        except ValueError:
            page.limit = None
        if page.limit is None or not 1 <= page.limit <= MAX_PAGE:
            errors.append(
                {"message": f"Limit must be a whole number from 1 to {MAX_PAGE}", "field": "limit"}
            )
    if after is not None:
        page.after = parse_object_id(after)
        if page.after is None:
            errors.append({"message": "After must be a ticket id", "field": "after"})
    if errors:
        raise RequestValidationFailed(errors)
    return page
