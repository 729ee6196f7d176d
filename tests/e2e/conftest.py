"""End-to-end tests: the whole platform behind nginx, driven over HTTP as a browser would."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# `devstack` is a plain folder at the repository root, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

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
