"""The services' side of `ticketing-admin` over real NATS: a command's result comes back as
JSON; a database that does not answer, or a service that is not running, is one clear
message (the command line prints it on stderr and exits 1)."""

from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pymongo.errors import ServerSelectionTimeoutError

from common.admin import cli, responder


async def test_a_service_answers_its_admin_commands_and_says_when_its_database_is_down(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    nc, _ = jetstream
    backlog = [{"collection": "things", "pending": 2, "oldestAgeSeconds": 3.5}]

    async def outbox() -> Any:
        return backlog

    async def unreachable() -> Any:
        raise ServerSelectionTimeoutError("things-mongo-srv:27017: timed out")

    await responder.answer(nc, "things", {"outbox": outbox, "reconcile": unreachable})

    assert await cli.ask(nc, "things", "outbox", 5) == backlog
    with pytest.raises(cli.Unreachable) as down:
        await cli.ask(nc, "things", "reconcile", 5)
    assert str(down.value) == ("things: database unreachable: things-mongo-srv:27017: timed out")
    with pytest.raises(cli.Unreachable) as absent:
        await cli.ask(nc, "nothing", "outbox", 5)
    assert str(absent.value) == "nothing is not running (no answer on NATS)"
