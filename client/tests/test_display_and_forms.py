from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from client.display import format_remaining, money, order_view
from client.forms import normalise_price
from client.pages import safe_next


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10", Decimal("10.00")),
        (" 7.5 ", Decimal("7.50")),
        ("$1,200", Decimal("1200.00")),
        ("19.999", Decimal("20.00")),
        ("0.005", Decimal("0.01")),
        ("abc", None),
        ("", None),
        ("nan", None),
        ("inf", None),
        ("1e40", None),
    ],
)
def test_normalise_price(raw: str, expected: Decimal | None) -> None:
    assert normalise_price(raw) == expected


@pytest.mark.parametrize(
    ("value", "shown"), [(20, "$20.00"), (1250.5, "$1,250.50"), ("12.3", "$12.30"), (None, "None")]
)
def test_money(value: object, shown: str) -> None:
    assert money(value) == shown


def test_format_remaining() -> None:
    assert format_remaining(900) == "15:00"
    assert format_remaining(65) == "1:05"
    assert format_remaining(3725) == "1:02:05"
    assert format_remaining(-3) == "0:00"


def test_order_view_counts_down_from_expires_at() -> None:
    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    order = {
        "id": "o1",
        "status": "created",
        "expiresAt": (now + timedelta(seconds=90.2)).isoformat().replace("+00:00", "Z"),
        "ticket": {"id": "t1", "title": "Opera", "price": 5},
    }

    view = order_view(order, now)

    assert view.state == "reserved"
    assert view.payable
    assert view.remaining_seconds == 91
    assert view.remaining == "1:31"
    assert order_view(order, now + timedelta(seconds=91)).state == "expired"


@pytest.mark.parametrize(
    ("value", "target"),
    [
        ("/orders", "/orders"),
        ("/tickets/1?x=1", "/tickets/1?x=1"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_safe_next(value: str | None, target: str) -> None:
    assert safe_next(value) == target
