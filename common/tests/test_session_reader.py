"""A service checks a token's signature once and keeps its claims, by the token's exact
text; expiry and revocation are still checked on every read."""

import time
from typing import Any

import pytest
from jose import jwt

from common import session
from common.session import SessionReader, issue_token

KEY = "reader-key"


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tokens whose signature is checked (each call of the JWT library)."""
    checked: list[str] = []
    decode = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(session.jwt, "decode", counting)
    return checked


def test_a_token_is_verified_once_for_many_requests(decodes: list[str]) -> None:
    reader = SessionReader(KEY, 3600)
    token = issue_token("u1", "a@b.com", KEY)
    for _ in range(10):
        claims = reader.read(token)
        assert claims is not None
        assert claims.id == "u1"
    assert decodes == [token]


def test_a_kept_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    reader = SessionReader(KEY, 60)
    now = int(time.time())
    token = issue_token("u1", "a@b.com", KEY, 60, issued_at=now)
    assert reader.read(token) is not None
    monkeypatch.setattr(session.time, "time", lambda: now + 60.5)  # the second of exp
    assert reader.read(token) is not None
    monkeypatch.setattr(session.time, "time", lambda: now + 61.0)
    assert reader.read(token) is None


def test_a_kept_token_is_refused_once_it_is_revoked() -> None:
    reader = SessionReader(KEY, 3600)
    token = issue_token("u1", "a@b.com", KEY)
    claims = reader.read(token)
    assert claims is not None
    reader.revoked.add(claims.jti, claims.exp)
    assert reader.read(token) is None


def test_a_token_signed_with_another_key_or_altered_is_refused_every_time() -> None:
    reader = SessionReader(KEY, 3600)
    other = issue_token("u1", "a@b.com", "another-key")
    good = issue_token("u1", "a@b.com", KEY)
    header, payload, signature = good.split(".")
    altered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    for _ in range(3):
        assert reader.read(other) is None
        assert reader.read(altered) is None
    assert reader.read(good) is not None


def test_readers_with_different_keys_do_not_share_what_they_verified() -> None:
    token = issue_token("u1", "a@b.com", KEY)
    assert SessionReader(KEY, 3600).read(token) is not None
    assert SessionReader("another-key", 3600).read(token) is None
