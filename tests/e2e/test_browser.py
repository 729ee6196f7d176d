"""The web client in a real browser against the whole platform (every service, NATS, the
Mongo stand-in, Redis, the Stripe stand-in, nginx): Debian's Chromium driven by Playwright.

Two people, each with their own browser context: one signs up and sells a ticket, the other
signs up (after a password the API refuses), buys it, watches the countdown, pays and finds
the order paid in My orders, while the ticket leaves the seller's landing page. Then an
unpaid reservation runs out in the browser and the ticket is for sale again.

Everything asserted is what a person sees. Waiting is Playwright's auto-waiting, or polling
with a reload where a change travels between services by events; the only time-based wait
is watching the countdown tick.

Set UPDATE_SCREENSHOTS=1 to write the screenshots to docs/screenshots/ (committed, for the
README); otherwise they go to the test's temporary directory.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    ViewportSize,
    expect,
)

from devstack.platform import Platform
from devstack.testing import EXPIRATION_WINDOW_SECONDS, PASSWORD, Visitor
from testsupport.browser import screenshots_dir
from testsupport.servers import eventually

pytestmark = pytest.mark.integration

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

PAGE_MS = 15_000
"""A page answered after a form post: the client calls the API, which may wait out
replication lag (an order reaching payments, a ticket reaching orders)."""
SETTLE_S = 20.0
"""Seconds an event is given to travel from one service to the others."""

OTHER_TICKETS = [
    ("Jazz night at the Blue Room, Fri 12 May", 45),
    ("Cup final, north stand, row F", 120),
    ("Stand-up comedy double bill", 18.5),
]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_dir(SCREENSHOTS, tmp_path_factory)


class Person:
    """One person at a laptop: a browser context of their own (cookies), one tab, and
    everything that went wrong in it (script errors, console errors, failed requests, and
    any request that left the platform)."""

    def __init__(self, browser: Browser, base: str, name: str) -> None:
        self.base = base
        self.email = f"{name}.{uuid.uuid4().hex[:4]}@example.com"
        self.context: BrowserContext = browser.new_context(viewport=VIEWPORT)
        self.context.set_default_timeout(PAGE_MS)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        page = self.page
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)
        page.on("requestfailed", lambda r: self.errors.append(f"failed {r.url} {r.failure}"))
        page.on("response", self._response)
        page.on("request", self._request)

    def _console(self, msg: ConsoleMessage) -> None:
        # A page answered 4xx on purpose (a form with errors) logs "Failed to load resource".
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _response(self, response: Response) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.errors.append(f"{response.status} {response.url}")

    def _request(self, request: Request) -> None:
        if not request.url.startswith((self.base, "data:")):
            self.errors.append(f"outside the platform: {request.url}")

    @property
    def nav(self) -> Locator:
        return self.page.get_by_role("navigation", name="Main")

    def sign_up(self, password: str = PASSWORD) -> None:
        page = self.page
        page.goto(self.base + "/auth/signup")
        expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
        page.get_by_label("Email address").fill(self.email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign up").click()
        expect(page).to_have_url(self.base + "/", timeout=PAGE_MS)
        expect(self.nav).to_contain_text(self.email)
        expect(self.nav.get_by_role("button", name="Sign out")).to_be_visible()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def people(browser: Browser, platform: Platform) -> Iterator[list[Person]]:
    """People made by a test; at the end each page must have had no errors."""
    made: list[Person] = []
    yield made
    for person in made:
        person.close()
    for person in made:
        assert person.errors == [], f"{person.email}: {person.errors}"


def browse_landing(page: Page, title: str) -> set[str]:
    """Reload `/` (or go there), as a person checking again would, and page through the
    tickets for sale until one is titled `title` (the page stays there) or the list ends.
    Returns the titles seen. Tickets are listed oldest first, a page at a time, so after
    other tests have sold many a new ticket is not on the first page."""
    home = "/".join(page.url.split("/", 3)[:3]) + "/"
    if page.url == home:
        page.reload()
    else:
        page.goto(home)
    seen: set[str] = set()
    while True:
        expect(page.get_by_role("heading", level=1)).to_have_text("Tickets for sale")
        seen.update(page.locator(".ticket-card .ticket-title").all_inner_texts())
        more = page.get_by_role("link", name="More tickets")
        if title in seen or not more.count():
            return seen
        more.click()


def seconds_of(countdown: str) -> int:
    """`0:05` → 5, `14:59` → 899."""
    minutes, seconds = countdown.strip().split(":")[-2:]
    return int(minutes) * 60 + int(seconds)


def test_one_person_sells_another_buys_and_pays(
    platform: Platform, browser: Browser, people: list[Person], shots: Path
) -> None:
    base = platform.url
    others = Visitor(base).signup()
    try:
        for title, price in OTHER_TICKETS:
            others.create_ticket(title, price)
    finally:
        others.close()
    title = "Indie rock festival, Saturday pass"  # titles are unique within a session

    # The seller signs up and lists a ticket; "59.5" is shown as $59.50.
    seller = Person(browser, base, "sam")
    people.append(seller)
    seller.sign_up()
    page = seller.page
    seller.nav.get_by_role("link", name="Sell tickets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sell a ticket")
    page.get_by_label("Title").fill(title)
    page.get_by_label("Price (USD)").fill("59.5")
    page.get_by_label("Title").focus()
    expect(page.get_by_label("Price (USD)")).to_have_value("59.50")
    page.screenshot(path=shots / "sell.png")
    page.get_by_role("button", name="List ticket").click()
    expect(page).to_have_url(base + "/", timeout=PAGE_MS)
    assert title in browse_landing(page, title)
    card = page.locator(".ticket-card", has=page.get_by_role("link", name=title, exact=True))
    expect(card).to_have_count(1)
    expect(card.locator(".ticket-price")).to_have_text("$59.50")
    expect(card).to_contain_text("Available")
    page.screenshot(path=shots / "landing.png")

    # The buyer tries a password that is too short: the message is under the password.
    buyer = Person(browser, base, "alex")
    people.append(buyer)
    page = buyer.page
    page.goto(base + "/auth/signup")
    page.get_by_label("Email address").fill(buyer.email)
    page.get_by_label("Password").fill("ab")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")
    password = page.get_by_label("Password")
    message = "Password must be between 4 and 20 characters"
    password_field = page.locator(".field", has=page.locator("input#password"))
    expect(password_field.locator(".field-error")).to_have_text(message)
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_attribute("aria-describedby", re.compile(r"\bpassword-error\b"))
    expect(page.locator("#password-error")).to_have_text(message)
    email_field = page.locator(".field", has=page.locator("input#email"))
    expect(email_field).not_to_contain_text(message)
    expect(page.get_by_label("Email address")).to_have_value(buyer.email)
    expect(page.get_by_label("Email address")).not_to_have_attribute("aria-invalid", "true")
    expect(buyer.nav).to_contain_text("Sign in")  # not signed up
    page.screenshot(path=shots / "signup-error.png")
    password.fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(base + "/", timeout=PAGE_MS)
    expect(buyer.nav).to_contain_text(buyer.email)

    # The buyer finds the ticket, opens it and purchases it.
    assert title in browse_landing(page, title)
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".ticket-detail-price")).to_have_text("$59.50")
    expect(page.locator(".ticket-detail .badge")).to_have_text("Available")
    page.screenshot(path=shots / "ticket.png")
    page.get_by_role("button", name="Purchase").click()

    # The order page: the countdown ticks down from the reservation window; pay in time.
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f]{24}$"), timeout=PAGE_MS)
    order_url = page.url
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".page-head .badge")).to_have_text("Reserved")
    expect(page.locator(".summary-total dd")).to_have_text("$59.50")
    timer = page.get_by_role("timer")
    expect(timer).to_have_text(re.compile(r"^\d+:\d\d$"))
    first = timer.inner_text()
    assert 0 < seconds_of(first) <= EXPIRATION_WINDOW_SECONDS, first
    expect(timer).not_to_have_text(first, timeout=3_000)
    later = timer.inner_text()
    assert seconds_of(later) < seconds_of(first), (first, later)
    pay = page.get_by_role("button", name="Pay $59.50")
    expect(pay).to_be_visible()
    page.screenshot(path=shots / "order-countdown.png")
    pay.click()
    expect(page.get_by_role("heading", name="You're going!")).to_be_visible(timeout=30_000)
    expect(page.locator(".page-head .badge")).to_have_text("Paid")
    expect(page.get_by_role("timer")).to_have_count(0)
    page.screenshot(path=shots / "order-paid.png")

    # My orders: the order is paid (complete).
    buyer.nav.get_by_role("link", name="My orders", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My orders")
    row = page.locator(".order-row", has=page.get_by_role("link", name=title, exact=True))
    expect(row).to_have_count(1)
    expect(row.locator(".badge")).to_have_text("Paid")
    expect(row.locator(".order-row-price")).to_have_text("$59.50")
    expect(row.get_by_role("link")).to_have_attribute("href", order_url.removeprefix(base))
    page.screenshot(path=shots / "my-orders.png")

    # The seller's landing page, reloaded, no longer offers the ticket (the others still are).
    def sold() -> bool:
        titles = browse_landing(seller.page, title)
        assert {t for t, _ in OTHER_TICKETS} <= titles, titles
        return title not in titles

    eventually(sold, SETTLE_S, interval=0.5)
    expect(seller.page.get_by_role("link", name=title, exact=True)).to_have_count(0)


def test_an_unpaid_reservation_runs_out_and_the_ticket_is_for_sale_again(
    platform: Platform, browser: Browser, people: list[Person], shots: Path
) -> None:
    base = platform.url
    seller = Visitor(base).signup()
    try:
        ticket = seller.create_ticket("Opera gala, stalls", 75)
    finally:
        seller.close()
    title = ticket["title"]

    buyer = Person(browser, base, "robin")
    people.append(buyer)
    buyer.sign_up()
    page = buyer.page
    page.goto(f"{base}/tickets/{ticket['id']}")
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    page.get_by_role("button", name="Purchase").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f]{24}$"), timeout=PAGE_MS)
    order_url = page.url
    expect(page.get_by_role("timer")).to_be_visible()
    expect(page.get_by_role("button", name="Pay $75.00")).to_be_visible()

    # Nobody pays: at zero the page shows the reservation expired, with nothing to pay.
    expect(page.get_by_role("heading", name="This reservation expired")).to_be_visible(
        timeout=(EXPIRATION_WINDOW_SECONDS + 10) * 1000
    )
    expect(page).to_have_url(order_url)
    expect(page.locator(".page-head .badge")).to_have_text("Expired")
    expect(page.get_by_role("button", name=re.compile("^Pay"))).to_have_count(0)
    expect(page.get_by_role("timer")).to_have_count(0)
    page.screenshot(path=shots / "order-expired.png")

    buyer.nav.get_by_role("link", name="My orders", exact=True).click()
    row = page.locator(".order-row", has=page.get_by_role("link", name=title, exact=True))
    expect(row.locator(".badge")).to_have_text("Expired")

    # The expiration reached orders and tickets: the ticket is offered again, and can be
    # purchased again.
    eventually(lambda: title in browse_landing(page, title), SETTLE_S, interval=0.5)
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.locator(".ticket-detail .badge")).to_have_text("Available")
    page.get_by_role("button", name="Purchase").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f]{24}$"), timeout=PAGE_MS)
    assert page.url != order_url
    expect(page.locator(".page-head .badge")).to_have_text("Reserved")
