"""Recognising a request sent again: the `X-Request-ID` the ingress gives every request.

nginx (`make dev`) and ingress-nginx (Kubernetes) pass each request on with an `X-Request-ID`
- the caller's own, or one they make - and keep it when they send the request to another
replica because the first one failed with it in hand (a process killed mid-request). A route
that creates something stores the id with what it made; a repeat finds it and answers with it
instead of making it twice. The id only ever finds what the same signed-in user made.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request

REQUEST_ID_HEADER = "X-Request-ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{8,128}")
"""What is taken as a request id; anything else (missing, too short or long) is ignored."""


def request_id(request: Request) -> str | None:
    """The request's id, or None if it has no usable one (then nothing recognises a repeat)."""
    value = request.headers.get(REQUEST_ID_HEADER, "")
    return value if VALID_REQUEST_ID.fullmatch(value) else None


async def request_id_of(request: Request) -> str | None:
    """`request_id` as a route's dependency (async: FastAPI runs a plain function in a
    worker thread, which costs more than reading a header)."""
    return request_id(request)


RequestId = Annotated[str | None, Depends(request_id_of)]
"""The request's id, as a route takes it."""
