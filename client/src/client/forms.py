"""Form handling shared by the pages: API errors by field, price normalisation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from client.api import ApiResponse
from common.money import MAX_PRICE_CENTS, MIN_PRICE_CENTS, PRICE_RULE, to_cents


@dataclass
class FormErrors:
    """Errors to show: next to a field when the API named one the form has, else on top."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def add(self, message: str, field_name: str | None = None) -> None:
        if field_name:
            self.fields.setdefault(field_name, []).append(message)
        else:
            self.general.append(message)

    @classmethod
    def from_api(cls, response: ApiResponse, form_fields: tuple[str, ...] = ()) -> FormErrors:
        errors = cls()
        for entry in response.errors:
            name = entry.get("field")
            errors.add(entry["message"], name if name in form_fields else None)
        return errors


def normalise_price(raw: str) -> Decimal | None:
    """`"10"` → `10.00`, `" 7.5 "` → `7.50`, `"$1,200"` → `1200.00`; None when not a number.

    Rounds half up to cents, as a person would write the price."""
    cleaned = raw.strip().replace(",", "").removeprefix("$").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
        if not value.is_finite():
            return None
        return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # not a number, or too large to hold in cents
        return None


@dataclass
class TicketForm:
    """The sell and edit forms' `{title, price}`, checked as the API would check them."""

    title: str
    raw_price: str
    price: Decimal | None
    errors: FormErrors

    @classmethod
    def read(cls, form: Mapping[str, object]) -> TicketForm:
        title = str(form.get("title", "")).strip()
        raw_price = str(form.get("price", "")).strip()
        price = normalise_price(raw_price)
        errors = FormErrors()
        if not title:
            errors.add("Title is required", "title")
        if price is None:
            errors.add("Price must be a number, like 25 or 19.99", "price")
        elif not MIN_PRICE_CENTS <= to_cents(price) <= MAX_PRICE_CENTS:
            errors.add(PRICE_RULE, "price")
        return cls(title, raw_price, price, errors)

    @property
    def body(self) -> dict[str, str]:
        """The API's request body (the price normalised to two decimals)."""
        return {"title": self.title, "price": f"{self.price:.2f}"}

    @property
    def values(self) -> dict[str, str]:
        """What the form shows again."""
        price = f"{self.price:.2f}" if self.price is not None else self.raw_price
        return {"title": self.title, "price": price}
