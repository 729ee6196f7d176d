"""The client alone in a real browser: `python -m client` against a small in-memory stand-in
of the API, driven by Debian's Chromium through Playwright.

Set UPDATE_SCREENSHOTS=1 to write the screenshots to client/docs/screenshots/ (committed, to
see the design at a glance); otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from playwright.sync_api import Browser, Page, Route, expect

from common.session import COOKIE_NAME, issue_token, read_token
from testsupport.browser import screenshots_dir
from testsupport.doubles import refusal
from testsupport.servers import ServiceProcess, free_port

JWT_KEY = "browser-smoke-key"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


def _error(status: int, message: str, field: str | None = None) -> JSONResponse:
    entry = {"message": message} | ({"field": field} if field else {})
    return JSONResponse({"errors": [entry]}, status_code=status)


def stub_api() -> tuple[FastAPI, dict[str, Any]]:
    """Just enough of the API, in memory, with the contract's shapes and errors."""
    app = FastAPI()
    db: dict[str, Any] = {"users": {}, "tickets": {}, "orders": {}, "payment_attempts": []}

    def oid() -> str:
        return uuid.uuid4().hex[:24]

    def who(request: Request) -> dict[str, Any] | None:
        token = request.cookies.get(COOKIE_NAME)
        payload = read_token(token, JWT_KEY) if token else None
        return payload.user().model_dump() if payload else None

    def sign_in(response: Response, user: dict[str, str]) -> None:
        token = issue_token(user["id"], user["email"], JWT_KEY)
        response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="lax", path="/")

    @app.post("/api/users/signup", status_code=201)
    async def signup(body: dict[str, str], response: Response) -> Any:
        if body["email"] in db["users"]:
            return _error(400, "Email in use", "email")
        user = {"id": oid(), "email": body["email"]}
        db["users"][body["email"]] = user
        sign_in(response, user)
        return user

    @app.post("/api/users/signin")
    async def signin(body: dict[str, str], response: Response) -> Any:
        user = db["users"].get(body["email"])
        if user is None:
            return _error(400, "Invalid credentials")
        sign_in(response, user)
        return user

    @app.post("/api/users/signout")
    async def signout(response: Response) -> dict[str, str]:
        response.delete_cookie(COOKIE_NAME, path="/")
        return {}

    @app.get("/api/users/currentuser")
    async def currentuser(request: Request) -> dict[str, Any]:
        return {"currentUser": who(request)}

    @app.get("/api/tickets")
    async def tickets() -> list[dict[str, Any]]:
        return [t for t in db["tickets"].values() if not t["orderId"]]

    @app.get("/api/tickets/{ticket_id}")
    async def ticket(ticket_id: str) -> Any:
        found = db["tickets"].get(ticket_id)
        return found if found else _error(404, "Not Found")

    @app.post("/api/tickets", status_code=201)
    async def create_ticket(body: dict[str, Any], request: Request) -> Any:
        user = who(request)
        if not user:
            return _error(401, "Not authorized")
        new = {"id": oid(), "title": body["title"], "price": body["price"]}
        db["tickets"][new["id"]] = new | {"userId": user["id"], "version": 0, "orderId": None}
        return db["tickets"][new["id"]]

    @app.post("/api/orders", status_code=201)
    async def create_order(body: dict[str, str], request: Request) -> Any:
        user = who(request)
        if not user:
            return _error(401, "Not authorized")
        found = db["tickets"].get(body["ticketId"])
        if not found:
            return _error(404, "Not Found")
        if found["orderId"]:
            return _error(400, "Ticket is already reserved")
        order = {
            "id": oid(),
            "userId": user["id"],
            "status": "created",
            "expiresAt": (datetime.now(UTC) + timedelta(minutes=15)).isoformat(),
            "version": 0,
            "ticket": {k: found[k] for k in ("id", "title", "price", "version")},
        }
        found["orderId"] = order["id"]
        db["orders"][order["id"]] = order
        return order

    @app.get("/api/orders")
    async def orders(request: Request) -> Any:
        user = who(request)
        if not user:
            return _error(401, "Not authorized")
        return [o for o in db["orders"].values() if o["userId"] == user["id"]]

    @app.get("/api/orders/{order_id}")
    async def order(order_id: str, request: Request) -> Any:
        user = who(request)
        found = db["orders"].get(order_id)
        if not found:
            return _error(404, "Not Found")
        if not user or found["userId"] != user["id"]:
            return _error(401, "Not authorized")
        return found

    @app.post("/api/payments", status_code=201)
    async def pay(body: dict[str, str], request: Request) -> Any:
        user = who(request)
        found = db["orders"].get(body["orderId"])
        if not user or not found or found["userId"] != user["id"]:
            return _error(401, "Not authorized")
        db["payment_attempts"].append(body["orderId"])
        if found["status"] == "cancelled":
            return _error(400, "Cannot pay for a cancelled order")
        if found.get("decline"):
            return _error(400, "Your card was declined.")
        assert body["token"] == "pm_card_visa"
        found["status"] = "complete"
        return {"id": oid()}

    return app, db


@pytest.fixture(scope="module")
def api_stub() -> Iterator[tuple[str, dict[str, Any]]]:
    """The stand-in API on a free port: its base URL and its in-memory data."""
    app, db = stub_api()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def buyer_with_an_order(
    db: dict[str, Any],
    email: str,
    ticket: dict[str, Any],
    expires_in: timedelta,
    **order_fields: Any,
) -> tuple[dict[str, str], str]:
    """A user of the stand-in API, and an order of theirs reserving `ticket` for
    `expires_in` more (`decline=True`: the stand-in declines its card)."""
    user = {"id": uuid.uuid4().hex[:24], "email": email}
    db["users"][email] = user
    order_id = uuid.uuid4().hex[:24]
    db["orders"][order_id] = {
        "id": order_id,
        "userId": user["id"],
        "status": "created",
        "expiresAt": (datetime.now(UTC) + expires_in).isoformat(),
        "version": 0,
        "ticket": ticket,
        **order_fields,
    }
    return user, order_id


def start_client(workdir: Path, api_url: str, **env: str) -> ServiceProcess:
    client = ServiceProcess("client", workdir, {"JWT_KEY": JWT_KEY, "API_BASE_URL": api_url, **env})
    client.start()
    return client


@pytest.fixture(scope="module")
def platform(
    api_stub: tuple[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The real client process (`python -m client`) in front of the stand-in API."""
    api_url, db = api_stub
    client = start_client(tmp_path_factory.mktemp("client"), api_url, STRIPE_PUBLISHABLE_KEY="")
    try:
        yield client.base_url, db
    finally:
        client.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_dir(SCREENSHOTS, tmp_path_factory)


def watch_requests(page: Page, base_url: str) -> list[str]:
    """Every URL the page asks for that is not the client itself."""
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            None if request.url.startswith((base_url, "data:")) else outside.append(request.url)
        ),
    )
    return outside


def watch_errors(page: Page) -> list[str]:
    """Script errors, console errors (a CSP violation shows here) and failed sub-resources.

    Pages answered with 4xx on purpose (a form with errors, the 404 page) are not errors."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and response.request.resource_type != "document"
            else None
        ),
    )
    return errors


def test_a_person_buys_a_ticket_start_to_finish(
    platform: tuple[str, dict[str, Any]], browser: Browser, shots: Path
) -> None:
    base, db = platform
    db["users"]["taken@example.com"] = {"id": uuid.uuid4().hex[:24], "email": "taken@example.com"}
    seller = uuid.uuid4().hex[:24]
    for n, (title, price) in enumerate(
        [
            ("Jazz night at the Blue Room, Fri 12 May", 45),
            ("Cup final, north stand, row F", 120),
            ("Stand-up comedy double bill", 18.5),
            ("Symphony No. 9, balcony", 64),
        ]
    ):
        tid = f"{n + 1:024x}"
        db["tickets"][tid] = {
            "id": tid, "title": title, "price": price, "userId": seller, "version": 0,
            "orderId": None,
        }  # fmt: skip
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(10_000)
    page = context.new_page()
    outside = watch_requests(page, base)
    errors = watch_errors(page)

    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Tickets for sale")).to_be_visible()
    expect(page.get_by_role("link", name="Cup final, north stand, row F")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Sign up")
    page.screenshot(path=shots / "landing.png", full_page=True)

    # Sign up with an email in use: the message is next to the email field.
    page.get_by_role("link", name="Sign up", exact=True).click()
    page.get_by_label("Email address").fill("taken@example.com")
    page.get_by_label("Password").fill("secret")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#email-error")).to_have_text("Email in use")
    expect(page.get_by_label("Email address")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=shots / "signup-error.png", full_page=True)

    page.get_by_label("Email address").fill("buyer@example.com")
    page.get_by_label("Password").fill("secret")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(base + "/")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_contain_text("Sell tickets")
    expect(nav).to_contain_text("My orders")
    expect(nav.get_by_role("button", name="Sign out")).to_be_visible()

    # Sell a ticket: "10" becomes "10.00" as the field is left, and on the server.
    page.get_by_role("link", name="Sell tickets").click()
    page.get_by_label("Title").fill("Indie rock festival, Saturday pass")
    page.get_by_label("Price (USD)").fill("10")
    page.get_by_label("Title").focus()
    expect(page.get_by_label("Price (USD)")).to_have_value("10.00")
    page.screenshot(path=shots / "sell.png", full_page=True)
    page.get_by_role("button", name="List ticket").click()
    expect(page).to_have_url(base + "/")
    listed = page.locator(".ticket-card", has_text="Indie rock festival")
    expect(listed).to_contain_text("$10.00")

    # Ticket detail, then Purchase: the order page counts down live.
    listed.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Indie rock festival, Saturday pass")
    page.screenshot(path=shots / "ticket.png", full_page=True)
    page.get_by_role("button", name="Purchase").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f]{24}$"))
    timer = page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^1[45]:\d\d$"))
    first = timer.inner_text()
    expect(timer).not_to_have_text(first, timeout=3000)
    page.screenshot(path=shots / "order-reserved.png", full_page=True)

    page.get_by_role("button", name="Pay $10.00").click()
    expect(page.get_by_role("heading", name="You're going!")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text("Paid")
    page.screenshot(path=shots / "order-paid.png", full_page=True)

    page.get_by_role("link", name="My orders", exact=True).click()
    row = page.locator(".order-row", has_text="Indie rock festival")
    expect(row).to_contain_text("Paid")
    page.screenshot(path=shots / "my-orders.png", full_page=True)

    page.goto(base + "/no-such-page")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.screenshot(path=shots / "not-found.png", full_page=True)

    page.get_by_role("navigation", name="Main").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Sign in")
    assert outside == [], f"loaded from outside the client: {outside}"
    assert errors == []
    context.close()


def test_reservation_runs_out_while_the_page_is_open(
    platform: tuple[str, dict[str, Any]], browser: Browser, shots: Path
) -> None:
    """At zero the page goes to the order (a GET: never re-sending the payment form whose
    answer it may be) and the server shows the expired state."""
    base, db = platform
    user, order_id = buyer_with_an_order(
        db,
        "late@example.com",
        {"id": "f" * 24, "title": "Opera gala, stalls", "price": 75, "version": 1},
        expires_in=timedelta(seconds=4),
        decline=True,
    )
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors = watch_errors(page)
    page.goto(base + "/auth/signin")
    page.get_by_label("Email address").fill(user["email"])
    page.get_by_label("Password").fill("whatever")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(base + "/")
    page.screenshot(path=shots / "landing-phone.png", full_page=True)

    page.goto(f"{base}/orders/{order_id}")
    expect(page.get_by_role("timer")).to_be_visible()
    page.get_by_role("button", name="Pay $75.00").click()
    expect(page.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page.get_by_role("timer")).to_be_visible()
    page.screenshot(path=shots / "order-reserved-phone.png", full_page=True)
    expect(page.get_by_role("heading", name="This reservation expired")).to_be_visible(timeout=8000)
    expect(page).to_have_url(f"{base}/orders/{order_id}")
    assert db["payment_attempts"].count(order_id) == 1
    expect(page.get_by_role("button", name=re.compile("^Pay"))).to_have_count(0)
    page.screenshot(path=shots / "order-expired-phone.png", full_page=True)
    assert errors == []
    context.close()


FAKE_STRIPE_JS = """
window.Stripe = function (key) {
  return {
    elements: function () {
      return { create: function () {
        return {
          mount: function (selector) {
            var input = document.createElement("input");
            input.id = "fake-card";
            input.setAttribute("aria-label", "Card number");
            document.querySelector(selector).appendChild(input);
          },
          on: function () {},
        };
      } };
    },
    createPaymentMethod: function () {
      var number = document.getElementById("fake-card").value;
      if (number !== "4242424242424242") {
        return Promise.resolve({ error: { message: "Your card number is incorrect." } });
      }
      return Promise.resolve({ paymentMethod: { id: "pm_from_" + key } });
    },
  };
};
"""


def test_with_a_publishable_key_the_page_pays_through_stripe_js_and_the_payments_api(
    api_stub: tuple[str, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    browser: Browser,
    shots: Path,
) -> None:
    """Stripe.js is replaced by a fake served at its real URL (no internet here); the page
    must turn the card into a PaymentMethod and post it, with the session cookie, to
    `/api/payments` on its own origin (the ingress), then show the order being confirmed."""
    api_url, db = api_stub
    client = start_client(
        tmp_path_factory.mktemp("stripe-client"), api_url, STRIPE_PUBLISHABLE_KEY="pk_test_abc"
    )
    user, order_id = buyer_with_an_order(
        db,
        "card@example.com",
        {"id": "e" * 24, "title": "Ballet, front row", "price": 90, "version": 1},
        expires_in=timedelta(minutes=15),
    )
    payments: list[dict[str, Any]] = []

    def payments_api(route: Route) -> None:
        """Like payments just after Purchase: it learns of the order a moment later."""
        request = route.request
        payments.append({"body": request.post_data_json, "cookie": request.header_value("cookie")})
        if len(payments) == 1:
            route.fulfill(status=404, json=refusal("Not Found"))
        else:
            route.fulfill(status=201, json={"id": "p1"})

    try:
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.set_default_timeout(10_000)
        context.route("https://js.stripe.com/v3/", lambda r: r.fulfill(
            body=FAKE_STRIPE_JS, content_type="application/javascript"
        ))  # fmt: skip
        context.route(f"{client.base_url}/api/payments", payments_api)
        page = context.new_page()
        errors = watch_errors(page)
        page.goto(client.base_url + "/auth/signin")
        page.get_by_label("Email address").fill(user["email"])
        page.get_by_label("Password").fill("whatever")
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(client.base_url + "/")

        page.goto(f"{client.base_url}/orders/{order_id}")
        card = page.get_by_label("Card number")
        pay = page.get_by_role("button", name="Pay $90.00")
        expect(pay).to_be_enabled()
        card.fill("1234")
        pay.click()
        expect(page.locator("#payment-errors")).to_have_text("Your card number is incorrect.")
        assert payments == []

        card.fill("4242424242424242")
        pay.click()
        expect(page).to_have_url(f"{client.base_url}/orders/{order_id}?paid=1")
        expect(page.get_by_role("heading", name="Payment received")).to_be_visible()
        page.screenshot(path=shots / "order-confirming.png", full_page=True)
        assert len(payments) == 2
        for sent in payments:
            assert sent["body"] == {"token": "pm_from_pk_test_abc", "orderId": order_id}
            assert "session=" in (sent["cookie"] or "")

        # payment:created reaches orders: the page, refreshing itself, shows the order paid.
        db["orders"][order_id]["status"] = "complete"
        expect(page.get_by_role("heading", name="You're going!")).to_be_visible()
        assert errors == [f"404 {client.base_url}/api/payments"]  # the one answered on purpose
        context.close()
    finally:
        client.stop()
