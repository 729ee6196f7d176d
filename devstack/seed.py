"""`make seed`: a few users and tickets in the running platform, through its HTTP API.

Safe to run again: existing users sign in instead, tickets they already sell are skipped.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import httpx

from devstack.platform import Ports

PASSWORD = "password"
CATALOGUE: dict[str, list[tuple[str, float]]] = {
    "alice@example.com": [
        ("Jazz in the Park — Saturday", 35),
        ("City Marathon — finish line stand", 20),
        ("Opera: The Magic Flute, balcony", 85.5),
    ],
    "bob@example.com": [
        ("Indie Rock Night at the Docks", 42),
        ("Football: Cup Final, north stand", 120),
        ("Stand-up Comedy Special", 18.75),
    ],
}


def sign_in(http: httpx.Client, email: str) -> None:
    """Sign up, or sign in when the user exists already; the session cookie stays in `http`."""
    body = {"email": email, "password": PASSWORD}
    response = http.post("/api/users/signup", json=body)
    if response.status_code == 400:
        response = http.post("/api/users/signin", json=body)
    response.raise_for_status()


def seed(base_url: str) -> list[str]:
    lines = []
    for email, tickets in CATALOGUE.items():
        with httpx.Client(base_url=base_url, timeout=15) as http:
            sign_in(http, email)
            me = http.get("/api/users/currentuser").json()["currentUser"]
            listed: list[dict[str, Any]] = http.get("/api/tickets").json()
            mine = {t["title"] for t in listed if t["userId"] == me["id"]}
            added = 0
            for title, price in tickets:
                if title not in mine:
                    body = {"title": title, "price": price}
                    http.post("/api/tickets", json=body).raise_for_status()
                    added += 1
            lines.append(f"{email} (password: {PASSWORD}): {added} new tickets for sale")
    return lines


def main() -> int:
    url = f"http://localhost:{Ports.from_env(os.environ).ingress}"
    try:
        lines = seed(url)
    except httpx.ConnectError:
        print(f"seed: nothing answers at {url}; start the platform first with `make dev`.")
        return 1
    except httpx.HTTPStatusError as error:
        response = error.response
        print(f"seed: {response.request.method} {response.request.url} answered")
        print(f"      {response.status_code} {response.text[:300]}")
        return 1
    print(f"seed: {url}")
    for line in lines:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
