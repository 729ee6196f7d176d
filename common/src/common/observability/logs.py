"""Logs: one JSON object per line (production), or readable lines (`LOG_FORMAT=console`).

Every line of the process - ours, uvicorn's, the libraries' (stdlib `logging`) - goes through
structlog's formatter, which adds what is known where it was logged: the service, the level,
the request id (`X-Request-ID`, set by the ingress), the trace id, and the event id and
subject while a listener handles an event. Nothing is looked up unless a line is written:
per request, `RequestLogContext` only remembers the request.

No secret is written: values under sensitive keys are replaced, and anything shaped like a
JWT, a Stripe secret key or a session cookie is masked in every line (`redact`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Iterator, MutableMapping
from contextvars import ContextVar
from typing import Any, Literal, TextIO

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from common.idempotency import REQUEST_ID_HEADER
from common.observability.tracing import current_trace_id

LogFormat = Literal["json", "console"]

_request: ContextVar[Scope | None] = ContextVar("request", default=None)
_event: ContextVar[tuple[str, str | None] | None] = ContextVar("event", default=None)


class RequestLogContext:
    """Makes the request being answered known to the log lines written meanwhile."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _request.set(scope)
        try:
            await self.app(scope, receive, send)
        finally:
            _request.reset(token)


@contextlib.contextmanager
def event_context(subject: str, event_id: str | None) -> Iterator[None]:
    """Log lines written meanwhile name the event being handled."""
    token = _event.set((subject, event_id))
    try:
        yield
    finally:
        _event.reset(token)


_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")


def logged_request_id(scope: Scope) -> str | None:
    """The request's `X-Request-ID` as the ingress sent it (logged as is, valid or not)."""
    for name, value in scope.get("headers", ()):
        if name == _REQUEST_ID_KEY:
            return bytes(value).decode("latin-1")
    return None


EventDict = MutableMapping[str, Any]


def add_context(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """The request id, trace id, event id and subject, where they exist."""
    scope = _request.get()
    if scope is not None and "request_id" not in event_dict:
        request_id = logged_request_id(scope)
        if request_id:
            event_dict["request_id"] = request_id
    trace_id = current_trace_id()
    if trace_id:
        event_dict.setdefault("trace_id", trace_id)
    handled = _event.get()
    if handled is not None:
        subject, event_id = handled
        event_dict.setdefault("subject", subject)
        if event_id:
            event_dict.setdefault("event_id", event_id)
    return event_dict


SENSITIVE_KEY = re.compile(
    r"pass(word)?|secret|token|jwt|cookie|authorization|api_?key|stripe_key", re.I
)
SECRET_PATTERNS = (
    re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*"),  # a JWT (header.payload.signature)
    re.compile(r"\b(?:sk|rk)_(?:test|live)_\w+"),  # a Stripe secret or restricted key
    re.compile(r"(?i)(?P<keep>(?:session|cookie|authorization)[\"']?\s*[:=]\s*[\"']?)[^\s;,\"']+"),
    re.compile(r"(?i)(?P<keep>[\"']?password[\"']?\s*[:=]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s,}]+)"),
)
"""What a secret looks like in a line; the `keep` part (the name before the value) stays."""
REDACTED = "[redacted]"


def _masked(match: re.Match[str]) -> str:
    return (match.groupdict().get("keep") or "") + REDACTED


def mask(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        text = pattern.sub(_masked, text)
    return text


def redact(_: Any, __: str, event_dict: EventDict) -> EventDict:
    """Replace the values of sensitive keys, and mask secrets in every text value."""
    for key, value in list(event_dict.items()):
        if key != "event" and SENSITIVE_KEY.search(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = mask(value)
    return event_dict


def configure_logging(
    service: str, level: str = "INFO", log_format: LogFormat = "json", stream: TextIO | None = None
) -> None:
    """Send every log line of the process to `stream` (stderr), as JSON or readable text."""

    def add_service(_: Any, __: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_service,
        add_context,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)  # UTF-8 lines, as written
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
