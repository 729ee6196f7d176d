"""Money: prices travel as JSON numbers (the original's API and events) and are handled as
integer cents everywhere else.

A JSON number reaches Python as an `int` or a `float`. A float is read back through its
shortest round-tripping decimal (`repr`), which is the literal the sender wrote for any amount
of up to 15 significant digits, so `19.99` is exactly 1999 cents and `0.001` is refused
rather than rounded to nothing. No float arithmetic touches an amount.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

CENT = Decimal("0.01")

MIN_PRICE_CENTS = 50
"""Stripe's smallest USD charge (0.50)."""
MAX_PRICE_CENTS = 100_000_000
"""1,000,000.00: the largest price a ticket may have."""
PRICE_RULE = "Price must be a number from 0.50 to 1,000,000 with at most 2 decimal places"


class NotAnAmount(ValueError):
    """The value is not a finite number with at most two decimal places."""


def exact_decimal(value: Any) -> Decimal:
    """The exact decimal a JSON number or a numeric string spells; `NotAnAmount` otherwise."""
    if isinstance(value, bool):
        raise NotAnAmount("not a number")
    try:
        if isinstance(value, Decimal):
            amount = value
        elif isinstance(value, int):
            amount = Decimal(value)
        elif isinstance(value, float):
            amount = Decimal(repr(value))
        elif isinstance(value, str):
            amount = Decimal(value.strip())
        else:
            raise NotAnAmount("not a number")
    except (InvalidOperation, ValueError):
        raise NotAnAmount("not a number") from None
    if not amount.is_finite():
        raise NotAnAmount("not a finite number")
    return amount


def to_cents(amount: Decimal) -> int:
    """`amount` in whole cents; `NotAnAmount` when it has more than two decimal places."""
    if abs(amount) > Decimal(10) ** 15:  # far beyond any price; keeps quantize exact
        raise NotAnAmount("too large")
    whole_cents = amount.quantize(CENT)
    if whole_cents != amount:
        raise NotAnAmount("more than two decimal places")
    return int(whole_cents * 100)


def from_cents(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def json_number(amount: Decimal) -> int | float:
    """How an amount is written in JSON: `20` for a whole amount, `12.5` or `19.99` otherwise
    (as JavaScript writes the same number)."""
    if amount == amount.to_integral_value():
        return int(amount)
    return float(amount)


def price_of(cents: int) -> int | float:
    """The JSON price of an amount held in cents: `json_number(from_cents(cents))`, in
    integer arithmetic (a quotient of two integers is correctly rounded, as is the float of
    the exact decimal)."""
    return cents // 100 if cents % 100 == 0 else cents / 100


def with_price_in_cents(document: Any) -> Any:
    """A stored document as it is read today: documents written before prices were kept in
    cents hold `price`, a number (rounded half up to the cent if it ever had more places)."""
    if isinstance(document, dict) and "price_cents" not in document and "price" in document:
        try:
            legacy = exact_decimal(document["price"]).quantize(CENT, rounding=ROUND_HALF_UP)
        except NotAnAmount:
            return document  # fails validation as it is
        document = {**document, "price_cents": int(legacy * 100)}
    return document


class PricedInCents(BaseModel):
    """A stored document with a price, kept in whole cents."""

    price_cents: int
    legacy_price: Any = Field(default=None, alias="price", exclude=True)
    """Read (never written) so that the ODM's projection fetches a pre-cents `price`."""

    @model_validator(mode="before")
    @classmethod
    def _read_legacy_price(cls, document: Any) -> Any:
        return with_price_in_cents(document)


def _amount(value: Any) -> Decimal:
    amount = exact_decimal(value)
    to_cents(amount)  # at most two decimal places
    if amount < 0:
        raise NotAnAmount("negative")
    return amount


PRICE_JSON_SCHEMA = {
    "type": "number",
    "minimum": 0,
    "description": "An amount in US dollars with at most two decimal places",
}
"""How a price is documented (OpenAPI, AsyncAPI). Not `multipleOf: 0.01`: validators that
divide in binary floating point reject `19.99` with it."""

Price = Annotated[
    Decimal,
    BeforeValidator(_amount),
    PlainSerializer(json_number, return_type=int | float, when_used="json"),
    WithJsonSchema(PRICE_JSON_SCHEMA),
]
"""A price in an event: an exact, non-negative amount with at most two decimal places,
written as a JSON number."""

PriceFromCents = Annotated[
    int,
    PlainSerializer(price_of, return_type=int | float, when_used="json"),
    WithJsonSchema(PRICE_JSON_SCHEMA),
]
"""A price in an API response: held in whole cents, written as the JSON number of the amount
(`1999` as `19.99`, `2000` as `20`)."""
