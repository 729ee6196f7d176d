"""End-to-end tests: the whole platform behind nginx, driven over HTTP as a browser would."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from devstack.platform import Platform
from devstack.testing import Visitor, platform

__all__ = ["platform"]


@pytest.fixture
def visitor(platform: Platform) -> Iterator[Callable[[], Visitor]]:
    """Make a new visitor (a browser with its own cookies) for the ingress."""
    made: list[Visitor] = []

    def make() -> Visitor:
        made.append(Visitor(platform.url))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def user(visitor: Callable[[], Visitor]) -> Callable[[], Visitor]:
    """Make a new visitor who has signed up."""
    return lambda: visitor().signup()
