"""The services' side of `ticketing-admin` over real NATS: a command's result comes back as
JSON; a database that does not answer, or a service that is not running, is one clear
message (the command line prints it on stderr and exits 1)."""

from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from pymongo.errors import ServerSelectionTimeoutError

from common.admin import cli, responder
from common.events import dead_letters
from common.events.stream import DEAD_STREAM_NAME


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


async def test_dead_letters_are_listed_across_the_gaps_replays_leave(
    jetstream: tuple[NatsClient, JetStreamContext],
) -> None:
    _, js = jetstream
    for sequence in (1, 2, 3):
        headers = dead_letters.dead_letter_headers(
            {"Nats-Msg-Id": f"event-{sequence}"},
            service="things",
            consumer="things-service--ticket-created",
            subject="ticket:created",
            reason="invalid payload",
            deliveries=1,
            sequence=sequence,
        )
        assert await dead_letters.set_aside(js, b"{}", headers)
    listed = [letter async for letter in dead_letters.dead_letters(js)]
    assert [letter.sequence for letter in listed] == [1, 2, 3]

    await js.delete_msg(DEAD_STREAM_NAME, listed[1].id)  # as a replay does

    left = [letter async for letter in dead_letters.dead_letters(js)]
    assert [letter.sequence for letter in left] == [1, 3]
    assert left[1].original_headers() == {"Nats-Msg-Id": "event-3"}
