"""How API objects are shown: prices as money, orders as one of four clear states."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any


def money(value: Any) -> str:
    """`20` → `$20.00`; anything that is not a number is shown as it is."""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if not amount.is_finite():
        return str(value)
    return f"${amount:,.2f}"


def parse_time(value: Any) -> datetime | None:
    """An ISO-8601 timestamp as an aware UTC datetime (naive ones are taken as UTC)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def format_remaining(seconds: int) -> str:
    """`125` → `2:05`; `3725` → `1:02:05`."""
    seconds = max(0, seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class OrderView:
    id: str
    status: str
    state: str
    """`reserved` (can be paid), `expired`, `cancelled` or `paid`."""
    label: str
    title: str
    price: Any
    ticket_id: str
    expires_at: datetime | None
    remaining_seconds: int

    @property
    def payable(self) -> bool:
        return self.state == "reserved"

    @property
    def remaining(self) -> str:
        return format_remaining(self.remaining_seconds)


_LABELS = {"reserved": "Reserved", "expired": "Expired", "cancelled": "Cancelled", "paid": "Paid"}


def order_view(order: dict[str, Any], now: datetime | None = None) -> OrderView:
    now = now or datetime.now(UTC)
    status = str(order.get("status", ""))
    expires_at = parse_time(order.get("expiresAt"))
    remaining = math.ceil((expires_at - now).total_seconds()) if expires_at else 0
    lapsed = expires_at is not None and remaining <= 0
    if status == "complete":
        state = "paid"
    elif status == "cancelled":
        # The API does not say why; a cancellation after the deadline is the hold lapsing.
        state = "expired" if lapsed else "cancelled"
    elif lapsed or expires_at is None:
        state = "expired"  # the expiration service has not caught up yet; it cannot be paid
    else:
        state = "reserved"
    raw_ticket = order.get("ticket")
    ticket: dict[str, Any] = raw_ticket if isinstance(raw_ticket, dict) else {}
    return OrderView(
        id=str(order.get("id", "")),
        status=status,
        state=state,
        label=_LABELS[state],
        title=str(ticket.get("title", "Ticket")),
        price=ticket.get("price"),
        ticket_id=str(ticket.get("id", "")),
        expires_at=expires_at,
        remaining_seconds=max(0, remaining) if state == "reserved" else 0,
    )


def moment(value: datetime | None) -> str:
    """`3 Dec 2026, 14:05 UTC` (an unknown moment shows as nothing)."""
    return f"{value.day} {value:%b %Y, %H:%M} UTC" if value is not None else ""


@dataclass(frozen=True)
class SellerTicketView:
    """One of the seller's tickets on `/my-tickets`."""

    id: str
    title: str
    price: Any
    state: str
    """`for-sale`, `reserved` or `sold` (as the API says)."""
    label: str
    reserved_until: datetime | None
    sold_at: datetime | None

    @property
    def editable(self) -> bool:
        return self.state == "for-sale"


_SELLER_LABELS = {"for-sale": "For sale", "reserved": "Reserved", "sold": "Sold"}


def seller_ticket_view(ticket: dict[str, Any]) -> SellerTicketView:
    state = str(ticket.get("state", ""))
    if state not in _SELLER_LABELS:  # an API older than the states: judge by the holder
        state = "reserved" if ticket.get("orderId") else "for-sale"
    return SellerTicketView(
        id=str(ticket.get("id", "")),
        title=str(ticket.get("title", "Ticket")),
        price=ticket.get("price"),
        state=state,
        label=_SELLER_LABELS[state],
        reserved_until=parse_time(ticket.get("reservedUntil")),
        sold_at=parse_time(ticket.get("soldAt")),
    )
