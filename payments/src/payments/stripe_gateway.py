"""The only module that talks to Stripe (or to the stand-in at `STRIPE_API_BASE`).

Two kinds of token, both charged `amount` cents:
- a PaymentMethod id (`pm_...`): a PaymentIntent created and confirmed in one call;
- a card token (`tok_...`, what Stripe Checkout hands the browser): a charge (Charges API).

Every call carries the caller's idempotency key. Failures come out in three kinds, because
the caller's next step differs: `PaymentRefused` (Stripe said no; nothing was charged),
`PaymentKeyReused` (the key was used before with other parameters; this call did nothing),
and `PaymentOutcomeUnknown` (network, timeout, Stripe error: it may or may not have charged).

`refund` gives a payment's whole amount back (Refunds API, by charge or PaymentIntent id);
any failure other than "already refunded" propagates as the library's `StripeError`, for
the caller to try again with the same idempotency key.
"""

from __future__ import annotations

import logging

import stripe
from stripe.params import RefundCreateParams

from payments.metrics import stripe_call

logger = logging.getLogger(__name__)

CURRENCY = "usd"


class PaymentRefused(Exception):
    """Stripe declined or rejected the payment; nothing was charged."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PaymentKeyReused(Exception):
    """Stripe refused the idempotency key: an earlier request used it with other parameters."""


class PaymentOutcomeUnknown(Exception):
    """The call failed in a way that does not tell whether the card was charged."""


class StripeGateway:
    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        *,
        timeout: float = 15.0,
        max_network_retries: int = 2,
    ) -> None:
        """`max_network_retries`: the library retries network failures itself, with the
        same idempotency key."""
        self._http = stripe.HTTPXClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=self._http,
        )

    async def charge(self, *, token: str, amount: int, order_id: str, idempotency_key: str) -> str:
        """Charge `amount` cents to `token`; the Stripe id of the PaymentIntent or charge."""
        try:
            if token.startswith("tok_"):
                return await self._charge_card_token(token, amount, order_id, idempotency_key)
            return await self._confirm_payment_intent(token, amount, order_id, idempotency_key)
        except (stripe.CardError, stripe.InvalidRequestError) as error:
            message = error.user_message or "Your payment could not be processed"
            logger.info("payment for order %s refused by Stripe: %s", order_id, message)
            raise PaymentRefused(message) from error
        except stripe.IdempotencyError as error:
            raise PaymentKeyReused(str(error.user_message)) from error
        except stripe.StripeError as error:
            raise PaymentOutcomeUnknown(f"{type(error).__name__}: {error}") from error

    async def _charge_card_token(
        self, token: str, amount: int, order_id: str, idempotency_key: str
    ) -> str:
        async with stripe_call("charge"):
            charge = await self._client.v1.charges.create_async(
                {
                    "amount": amount,
                    "currency": CURRENCY,
                    "source": token,
                    "metadata": {"orderId": order_id},
                },
                {"idempotency_key": idempotency_key},
            )
        return charge.id

    async def _confirm_payment_intent(
        self, payment_method: str, amount: int, order_id: str, idempotency_key: str
    ) -> str:
        async with stripe_call("payment_intent"):
            intent = await self._client.v1.payment_intents.create_async(
                {
                    "amount": amount,
                    "currency": CURRENCY,
                    "payment_method": payment_method,
                    "allowed_payment_method_types": ["card"],
                    "confirm": True,
                    "metadata": {"orderId": order_id},
                },
                {"idempotency_key": idempotency_key},
            )
        if intent.status == "succeeded":
            return intent.id
        if intent.status in ("requires_action", "requires_payment_method", "canceled"):
            # Nothing was charged: the card needs the buyer's authentication (not possible
            # from the server) or was refused.
            raise PaymentRefused("This card cannot be charged without further authentication")
        raise PaymentOutcomeUnknown(f"payment intent {intent.id} is {intent.status}")

    async def refund(self, *, stripe_id: str, order_id: str, idempotency_key: str) -> str | None:
        """Refund the whole of the payment `stripe_id` (a charge `ch_...` or a PaymentIntent
        `pi_...`); the refund's id, or None when Stripe says it was refunded already."""
        options: stripe.RequestOptions = {"idempotency_key": idempotency_key}
        metadata = {"orderId": order_id}
        params: RefundCreateParams = {"metadata": metadata}
        if stripe_id.startswith("pi_"):
            params["payment_intent"] = stripe_id
        else:
            params["charge"] = stripe_id
        try:
            async with stripe_call("refund"):
                refund = await self._client.v1.refunds.create_async(params, options)
        except stripe.InvalidRequestError as error:
            if error.code == "charge_already_refunded":
                return None
            raise
        return refund.id

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # stripe leaves it unannotated
