"""The services' side of the admin commands that need a service's own database.

Each service answers NATS requests on `admin.<service>.<command>` (one replica of the service
answers each request: a queue group), with one JSON object: `{"ok": true, "result": ...}` or
`{"ok": false, "error": "..."}`. Every service with an outbox answers `outbox`; a service adds
its own commands (`ServiceSpec.admin_commands`, e.g. payments' `reconcile`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from common.errors import database_unavailable
from common.observability.observations import outbox_backlog_of
from common.outbox import OutboxDocument

logger = logging.getLogger(__name__)

ADMIN_PREFIX = "admin"
QUEUE = "admin"

AdminCommand = Callable[[], Awaitable[Any]]
"""Does what the command asks; its result is sent back as JSON."""


def admin_subject(service: str, command: str) -> str:
    return f"{ADMIN_PREFIX}.{service}.{command}"


def outbox_command(models: Sequence[type[OutboxDocument]]) -> AdminCommand:
    """The backlog of each of the service's outbox collections."""

    async def backlog() -> list[dict[str, Any]]:
        rows = []
        for model in models:
            pending, age = await outbox_backlog_of(model)
            rows.append(
                {
                    "collection": model.get_collection_name(),
                    "pending": pending,
                    "oldestAgeSeconds": round(age, 1),
                }
            )
        return rows

    return backlog


async def answer(
    nc: NatsClient, service: str, commands: Mapping[str, AdminCommand]
) -> list[Subscription]:
    """Subscribe to the service's admin subjects; the subscriptions (drained with NATS)."""
    subscriptions = []
    for command, run in commands.items():
        subscriptions.append(
            await nc.subscribe(
                admin_subject(service, command), queue=QUEUE, cb=_responder(command, run)
            )
        )
    return subscriptions


def _responder(command: str, run: AdminCommand) -> Callable[[Msg], Awaitable[None]]:
    async def respond(msg: Msg) -> None:
        try:
            reply: dict[str, Any] = {"ok": True, "result": await run()}
        except Exception as error:
            if database_unavailable(error):
                message = f"database unreachable: {error}"
            else:
                logger.exception("admin command %s failed", command)
                message = f"{type(error).__name__}: {error}"
            reply = {"ok": False, "error": message}
        if msg.reply:
            await msg.respond(json.dumps(reply, default=str).encode())

    return respond
