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
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", self._request)

    def _console(self, msg: ConsoleMessage) -> None:
        # A page answered 4xx on purpose (a form with errors) logs "Failed to load resource".
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            self.errors.append(msg.text)

    def _failed(self, request: Request) -> None:
        # A live page's event stream never ends by itself, and an update it fetches may be
        # under way: leaving the page aborts them.
        left_a_live_page = request.failure == "net::ERR_ABORTED" and request.resource_type in (
            "eventsource",
            "fetch",
        )
        if not left_a_live_page:
            self.errors.append(f"failed {request.url} {request.failure}")

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


# --- live pages, the seller's pages, search -------------------------------------------------

LIVE_S = 20.0
"""Seconds a change is given to reach an open page through the events (no reload)."""


def keep_marker(page: Page) -> None:
    """Mark the page's window: the mark survives live updates, not a reload or navigation."""
    page.evaluate("window.__stillTheSamePage = true")


def not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__stillTheSamePage === true"))


def wait_live(page: Page) -> None:
    """The page is subscribed to its live events (its EventSource is open)."""
    expect(page.locator("[data-live][data-live-open]")).to_have_count(1)


def test_two_browsers_one_buys_while_the_other_watches_the_ticket(
    platform: Platform, browser: Browser, people: list[Person], shots: Path
) -> None:
    base = platform.url
    seller = Visitor(base).signup()
    try:
        ticket = seller.create_ticket("Chamber music matinee, balcony", 33)
    finally:
        seller.close()

    watcher = Person(browser, base, "wendy")
    people.append(watcher)
    watcher.sign_up()
    watching = watcher.page
    watching.goto(f"{base}/tickets/{ticket['id']}")
    badge = watching.locator(".ticket-detail .badge")
    expect(badge).to_have_text("Available")
    expect(watching.get_by_role("button", name="Purchase")).to_be_visible()
    wait_live(watching)
    keep_marker(watching)

    buyer = Person(browser, base, "bo")
    people.append(buyer)
    buyer.sign_up()
    buyer.page.goto(f"{base}/tickets/{ticket['id']}")
    buyer.page.get_by_role("button", name="Purchase").click()
    expect(buyer.page).to_have_url(re.compile(r"/orders/[0-9a-f]{24}$"), timeout=PAGE_MS)

    # The watcher's page shows the reservation by itself, and no Purchase button any more.
    expect(badge).to_have_text("Reserved", timeout=LIVE_S * 1000)
    expect(watching.get_by_role("button", name="Purchase")).to_have_count(0)
    expect(watching.get_by_text("Someone is buying this ticket right now.")).to_be_visible()
    assert not_reloaded(watching)
    watching.screenshot(path=shots / "ticket-reserved-live.png")

    # Nobody pays: the hold lapses and the same page offers the ticket again.
    expect(badge).to_have_text("Available", timeout=(EXPIRATION_WINDOW_SECONDS + LIVE_S) * 1000)
    expect(watching.get_by_role("button", name="Purchase")).to_be_visible()
    assert not_reloaded(watching)


def test_the_landing_page_shows_new_tickets_and_drops_reserved_ones_live(
    platform: Platform, browser: Browser, people: list[Person], shots: Path
) -> None:
    base = platform.url
    word = f"zz{uuid.uuid4().hex[:8]}"  # a word no other ticket has: the search shows ours
    watcher = Person(browser, base, "lee")
    people.append(watcher)
    page = watcher.page
    page.goto(f"{base}/?q={word}")
    expect(page.get_by_role("heading", name="No tickets match your search")).to_be_visible()
    wait_live(page)
    keep_marker(page)

    seller = Visitor(base).signup()
    buyer = Visitor(base).signup()
    try:
        first = seller.create_ticket(f"Folk evening {word}", 25)
        cards = page.locator(".ticket-card")
        expect(cards).to_have_count(1, timeout=LIVE_S * 1000)
        expect(cards.first.get_by_role("link")).to_have_text(f"Folk evening {word}")
        seller.create_ticket(f"Brass band {word}", 15)
        seller.create_ticket("Something else entirely", 15)  # not what is searched for
        expect(cards).to_have_count(2, timeout=LIVE_S * 1000)
        page.screenshot(path=shots / "search-live.png")

        assert buyer.order(first["id"]).status_code == 201
        expect(cards).to_have_count(1, timeout=LIVE_S * 1000)
        expect(cards.first.get_by_role("link")).to_have_text(f"Brass band {word}")
        assert not_reloaded(page)
    finally:
        seller.close()
        buyer.close()


def test_the_order_page_turns_paid_live(
    platform: Platform, browser: Browser, people: list[Person]
) -> None:
    base = platform.url
    seller = Visitor(base).signup()
    try:
        ticket = seller.create_ticket("Poetry slam, front row", 12)
    finally:
        seller.close()
    buyer = Person(browser, base, "pat")
    people.append(buyer)
    buyer.sign_up()
    page = buyer.page
    page.goto(f"{base}/tickets/{ticket['id']}")
    page.get_by_role("button", name="Purchase").click()
    expect(page).to_have_url(re.compile(r"/orders/[0-9a-f]{24}$"), timeout=PAGE_MS)
    order_id = page.url.rsplit("/", 1)[-1]
    expect(page.locator(".page-head .badge")).to_have_text("Reserved")
    wait_live(page)
    keep_marker(page)

    # Paid elsewhere (another tab of the same person: the same session).
    paid = buyer.context.request.post(
        f"{base}/api/payments", data={"token": "tok_visa", "orderId": order_id}
    )
    assert paid.status == 201, paid.text()

    expect(page.locator(".page-head .badge")).to_have_text("Paid", timeout=LIVE_S * 1000)
    expect(page.get_by_role("heading", name="You're going!")).to_be_visible()
    assert not_reloaded(page)


def test_a_seller_follows_and_edits_their_tickets(
    platform: Platform, browser: Browser, people: list[Person], shots: Path
) -> None:
    base = platform.url
    seller = Person(browser, base, "sky")
    people.append(seller)
    seller.sign_up()
    page = seller.page
    for title, price in (("Ballet, Swan Lake, circle", "64"), ("Derby day, paddock", "30")):
        page.goto(base + "/tickets/new")
        page.get_by_label("Title").fill(title)
        page.get_by_label("Price (USD)").fill(price)
        page.get_by_role("button", name="List ticket").click()
        expect(page).to_have_url(base + "/", timeout=PAGE_MS)

    seller.nav.get_by_role("link", name="My tickets").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My tickets")
    ballet = page.locator(".seller-row", has=page.get_by_role("link", name=re.compile("^Ballet")))
    expect(ballet.locator(".badge")).to_have_text("For sale")

    # Edit: a price that is not a number, then a title the API refuses (nothing visible),
    # each message next to its field; then a good change.
    ballet.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Edit your ticket")
    expect(page.get_by_label("Title")).to_have_value("Ballet, Swan Lake, circle")
    expect(page.get_by_label("Price (USD)")).to_have_value("64.00")
    page.get_by_label("Price (USD)").fill("lots")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#price-error")).to_have_text("Price must be a number, like 25 or 19.99")
    page.get_by_label("Title").fill("\u200b\u200b")
    page.get_by_label("Price (USD)").fill("70")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("#title-error")).to_have_text("Title is required")
    expect(page.get_by_label("Title")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=shots / "edit-ticket-error.png")
    page.get_by_label("Title").fill("Ballet, Swan Lake, stalls")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(base + "/my-tickets", timeout=PAGE_MS)
    ballet = page.locator(
        ".seller-row", has=page.get_by_role("link", name="Ballet, Swan Lake, stalls")
    )
    expect(ballet.locator(".order-row-price")).to_have_text("$70.00")

    # A buyer reserves the derby ticket: reserved until a time, and it cannot be edited.
    derby_link = page.get_by_role("link", name="Derby day, paddock")
    derby_id = (derby_link.get_attribute("href") or "").rsplit("/", 1)[-1]
    buyer = Visitor(base).signup()
    try:
        order = buyer.order(derby_id)
        assert order.status_code == 201, order.text

        def reserved() -> bool:
            page.reload()
            row = page.locator(
                ".seller-row", has=page.get_by_role("link", name="Derby day, paddock")
            )
            return row.locator(".badge").inner_text() == "Reserved"

        eventually(reserved, SETTLE_S, interval=0.5)
        derby = page.locator(".seller-row", has=page.get_by_role("link", name="Derby day, paddock"))
        expect(derby).to_contain_text(re.compile(r"until \d+ \w+ \d{4}, \d\d:\d\d UTC"))
        expect(derby.get_by_role("link", name="Edit")).to_have_count(0)
        page.screenshot(path=shots / "my-tickets.png")
        page.goto(f"{base}/tickets/{derby_id}/edit")
        expect(page.get_by_role("alert")).to_contain_text("This ticket can't be edited")
        expect(page.get_by_role("button", name="Save changes")).to_have_count(0)

        # The buyer pays: sold.
        assert buyer.pay(order.json()["id"]).status_code == 201

        def sold() -> bool:
            page.goto(base + "/my-tickets")
            row = page.locator(
                ".seller-row", has=page.get_by_role("link", name="Derby day, paddock")
            )
            return row.locator(".badge").inner_text() == "Sold"

        eventually(sold, SETTLE_S, interval=0.5)
        expect(derby).to_contain_text(re.compile(r"on \d+ \w+ \d{4}, \d\d:\d\d UTC"))
    finally:
        buyer.close()


def test_pages_work_without_javascript(platform: Platform, browser: Browser, shots: Path) -> None:
    """Search, a ticket and its reservation, with scripts off: plain pages, nothing live."""
    base = platform.url
    word = f"yy{uuid.uuid4().hex[:8]}"
    seller = Visitor(base).signup()
    buyer = Visitor(base).signup()
    context = browser.new_context(viewport=VIEWPORT, java_script_enabled=False)
    try:
        ticket = seller.create_ticket(f"Organ recital {word}", 9)
        page = context.new_page()
        page.goto(base + "/")
        page.get_by_role("searchbox", name="Search tickets").fill(f"recital {word.upper()}")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"\?q=recital"))
        expect(page.locator(".ticket-card")).to_have_count(1)
        page.get_by_role("link", name=f"Organ recital {word}").click()
        expect(page.locator(".ticket-detail .badge")).to_have_text("Available")
        assert buyer.order(ticket["id"]).status_code == 201

        def reserved() -> bool:
            page.reload()
            return page.locator(".ticket-detail .badge").inner_text() == "Reserved"

        eventually(reserved, SETTLE_S, interval=0.5)
    finally:
        context.close()
        seller.close()
        buyer.close()
