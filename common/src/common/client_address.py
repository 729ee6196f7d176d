"""The caller's network address, as sign-in throttling counts it.

Behind the ingress (the local nginx and ingress-nginx both set `X-Real-IP`), the address is
that header; without it, the socket peer. The web client renders pages by calling the API
through the ingress, so on its calls the ingress sees the client's own address: the client
passes its visitor's address along in `X-Visitor-Address`, signed with `JWT_KEY`, so that
nobody without the key can choose the address they are counted under.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from common.session import SessionReader

VISITOR_ADDRESS_HEADER = "X-Visitor-Address"


def _signature(address: str, key: str) -> str:
    message = f"visitor-address:{address}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign_visitor_address(address: str, key: str) -> str:
    """The `X-Visitor-Address` value vouching for `address`."""
    return f"{address};{_signature(address, key)}"


def verified_visitor_address(value: str, key: str) -> str | None:
    """The address an `X-Visitor-Address` value vouches for, or None if it is not signed
    with `key`."""
    address, _, signature = value.rpartition(";")
    address = address.strip()
    if address and hmac.compare_digest(signature.strip(), _signature(address, key)):
        return address
    return None


def client_address(request: Request) -> str:
    """Whom to count a request against: a visitor the web client vouches for, else the
    address the ingress saw (`X-Real-IP`), else the socket peer."""
    vouched = request.headers.get(VISITOR_ADDRESS_HEADER)
    if vouched:
        sessions: SessionReader = request.app.state.sessions
        address = verified_visitor_address(vouched, sessions.jwt_key)
        if address:
            return address
    real_ip = request.headers.get("x-real-ip", "").strip()
    if real_ip:
        return real_ip
    return request.client.host if request.client else "unknown"
