"""The API's shapes: request bodies and query parameters, with the contract's messages
(section 3), and the ticket as responses show it (section 5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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
    PriceFromCents,
    exact_decimal,
    to_cents,
)
from common.responses import ResponseModel
from common.text import has_control_characters, is_blank, is_valid_unicode
from tickets.models import Ticket, TicketState

MAX_TITLE_LENGTH = 200


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
    def valid_title(cls, value: Any) -> str:
        """Trimmed, 1 to `MAX_TITLE_LENGTH` characters of valid Unicode on one line; a title
        that shows nothing (only spaces or invisible characters) is missing."""
        if not isinstance(value, str) or is_blank(value):
            raise ValueError("Title is required")
        title = value.strip()
        if not is_valid_unicode(title):
            raise ValueError("Title must be valid Unicode")
        if has_control_characters(title):
            raise ValueError("Title must not contain control characters")
        if len(title) > MAX_TITLE_LENGTH:
            raise ValueError(f"Title must be between 1 and {MAX_TITLE_LENGTH} characters")
        return title

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


async def page_params(limit: str | None = None, after: str | None = None) -> Page:
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


class TicketResponse(ResponseModel):
    """A ticket: `{id, title, price, userId, version, orderId}`."""

    id: str
    title: str
    price: PriceFromCents
    user_id: str
    version: int
    order_id: str | None
    """The order holding the ticket; null when it is for sale."""

    @classmethod
    def of(cls, ticket: Ticket) -> TicketResponse:
        return cls(
            id=str(ticket.id),
            title=ticket.title,
            price=ticket.price_cents,
            user_id=ticket.user_id,
            version=ticket.version,
            order_id=ticket.order_id,
        )


class SellerTicketResponse(TicketResponse):
    """One of the seller's own tickets, with what became of it: `state` (`for-sale`,
    `reserved`, `sold`), `reservedUntil` while reserved (when the hold lapses unless the
    order is paid; null if that is not known yet) and `soldAt` once sold."""

    state: TicketState
    reserved_until: datetime | None
    sold_at: datetime | None

    @classmethod
    def of(cls, ticket: Ticket) -> SellerTicketResponse:
        return cls(
            **TicketResponse.of(ticket).model_dump(),
            state=ticket.state,
            reserved_until=ticket.reserved_until,
            sold_at=ticket.sold_at,
        )
