"""The Stripe stand-in (localstripe) bound to 127.0.0.1 only, its store kept in our data dir.

localstripe's own command listens on every interface and keeps its data in
`/tmp/localstripe.pickle`, shared by every copy on the machine. This launcher runs the same
aiohttp app on loopback, keeps the store in `--data-dir` (in memory without it), and closes
two gaps between localstripe and Stripe that payments relies on:

- a charge's `source` may be a card token (`tok_...`, including Stripe's test tokens such as
  `tok_visa`), as Stripe accepts; localstripe only takes card/source/payment-method ids;
- a POST with an `Idempotency-Key` header that was already seen returns the first answer
  again instead of doing the work twice, and one that arrives while the first is still
  running gets 409 `idempotency_error`, as Stripe does;
- a PaymentIntent names its allowed payment methods `allowed_payment_method_types`, as the
  API version pinned by the `stripe` library does (localstripe knows only the old
  `payment_method_types`).

    python -m devstack.stripe_standin --port 8420 --data-dir .local/stripe
"""

from __future__ import annotations

import argparse
import logging
import pickle
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe.resources import Charge, PaymentIntent, PaymentMethod, Store, Token
from localstripe.server import app

TEST_TOKENS = {
    "tok_visa": "pm_card_visa",
    "tok_chargeDeclined": "pm_card_chargeCustomerFail",
}
"""Stripe's test-mode card tokens, as the test payment methods localstripe knows."""


def keep_store_in(path: Path | None) -> None:
    """Point localstripe's load/save at `path`, or keep the store in memory only."""

    def load(store: Store) -> None:
        if path is not None and path.exists():
            with path.open("rb") as file:
                saved = pickle.load(file)  # noqa: S301  # our own file, written by this program
            store.clear()
            dict.update(store, saved)

    def dump(store: Store) -> None:
        if path is not None:
            temporary = path.with_suffix(".tmp")
            with temporary.open("wb") as file:
                pickle.dump(dict(store), file, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(path)

    Store.try_load_from_disk = load
    Store.dump_to_disk = dump


def accept_card_tokens() -> None:
    """Let `Charge` take `source=tok_...` by charging the token's card."""
    original_init = Charge.__init__

    def init(self: Charge, *args: Any, source: Any = None, **kwargs: Any) -> None:
        if isinstance(source, str) and source.startswith("tok_"):
            if source in TEST_TOKENS:
                source = PaymentMethod._api_retrieve(TEST_TOKENS[source]).id
            else:
                source = Token._api_retrieve(source).card.id
        original_init(self, *args, source=source, **kwargs)

    Charge.__init__ = init


def accept_allowed_payment_method_types() -> None:
    """Take today's name of `payment_method_types` on a PaymentIntent."""
    original_init = PaymentIntent.__init__

    def init(self: PaymentIntent, *args: Any, **kwargs: Any) -> None:
        allowed = kwargs.pop("allowed_payment_method_types", None)
        if allowed is not None and "payment_method_types" not in kwargs:
            kwargs["payment_method_types"] = allowed
        original_init(self, *args, **kwargs)

    PaymentIntent.__init__ = init


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


IN_PROGRESS = (
    "There is currently another in-progress request using this Idempotent Key (that probably "
    "means you submitted twice, and the other request is still going through)"
)


def replay_idempotent_posts(saved_in: Path | None) -> None:
    """Answer a repeated `Idempotency-Key` with the first response, and a repeat that arrives
    while the first is still running with 409 `idempotency_error`, as Stripe does. The answers
    are kept in `saved_in` (when given), so a restarted stand-in replays them too."""
    seen: dict[str, tuple[int, bytes, str]] = {}
    if saved_in is not None and saved_in.exists():
        with saved_in.open("rb") as file:
            seen.update(pickle.load(file))  # noqa: S301  # our own file, written by this program
    running: set[str] = set()

    def save() -> None:
        if saved_in is not None:
            temporary = saved_in.with_suffix(".tmp")
            with temporary.open("wb") as file:
                pickle.dump(seen, file, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(saved_in)

    @web.middleware
    async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if request.method != "POST" or not key:
            return await handler(request)
        cache_key = f"{request.path} {key}"
        if cache_key in seen:
            status, body, content_type = seen[cache_key]
            return web.Response(
                status=status,
                body=body,
                content_type=content_type,
                headers={"Idempotent-Replayed": "true"},
            )
        if cache_key in running:
            return web.json_response(
                {"error": {"type": "idempotency_error", "message": IN_PROGRESS}}, status=409
            )
        running.add(cache_key)
        try:
            response = await handler(request)
        finally:
            running.discard(cache_key)
        if isinstance(response, web.Response) and response.status < 500:
            body = response.body if isinstance(response.body, bytes) else b""
            seen[cache_key] = (response.status, body, response.content_type)
            save()
        return response

    app.middlewares.insert(0, idempotency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, help="keep the store here (default: memory)")
    args = parser.parse_args()

    store_file = answers_file = None
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        store_file = args.data_dir / "localstripe.pickle"
        answers_file = args.data_dir / "idempotent-answers.pickle"
    keep_store_in(store_file)
    accept_card_tokens()
    accept_allowed_payment_method_types()
    replay_idempotent_posts(answers_file)
    from localstripe.resources import store

    store.try_load_from_disk()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s stripe %(message)s")
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
