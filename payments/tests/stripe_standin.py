"""The Stripe stand-in of the payments tests: `devstack.stripe_standin` (localstripe on
loopback, card tokens, idempotency-key replay, store in memory) plus one more shim.

The `stripe` library pins API version 2026-10-28.endive, where a PaymentIntent names its
allowed payment methods `allowed_payment_method_types` (`payment_method_types` is refused);
localstripe only knows the old name, so it is translated here.

Run by path (the repository root must be on PYTHONPATH for `devstack`):
    python payments/tests/stripe_standin.py --port 8420
"""

from __future__ import annotations

from typing import Any

from localstripe.resources import PaymentIntent


def accept_allowed_payment_method_types() -> None:
    original_init = PaymentIntent.__init__

    def init(self: PaymentIntent, *args: Any, **kwargs: Any) -> None:
        allowed = kwargs.pop("allowed_payment_method_types", None)
        if allowed is not None and "payment_method_types" not in kwargs:
            kwargs["payment_method_types"] = allowed
        original_init(self, *args, **kwargs)

    PaymentIntent.__init__ = init  # type: ignore[method-assign]


if __name__ == "__main__":
    from devstack.stripe_standin import main

    accept_allowed_payment_method_types()
    main()
