"""`ticketing-admin`: inspect and repair the running platform. It needs only `NATS_URL`.

    ticketing-admin dead list            the events set aside, oldest first
    ticketing-admin dead show ID         one of them: why, where from, headers and payload
    ticketing-admin dead replay ID       send it back to the consumer that set it aside
    ticketing-admin dead replay --all    ... every one of them
    ticketing-admin lag                  each durable consumer's pending and ack-pending events
    ticketing-admin outbox [SERVICE...]  each service's unpublished events (asks the services)
    ticketing-admin payments reconcile   one reconciliation pass of payments, now

`dead` and `lag` read JetStream; `outbox` and `payments reconcile` ask the running services
over NATS (`common.admin.responder`), each of which answers for its own database. When NATS,
a service or its database cannot be reached, one line on stderr says so and the exit status
is 1 (2 for a wrong command line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NotFoundError
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.admin.responder import admin_subject
from common.events import dead_letters
from common.events.stream import DEAD_STREAM_NAME, STREAM_NAME, nats_servers
from common.settings import describe_settings_error

OUTBOX_SERVICES = ("auth", "tickets", "orders", "payments")
"""The services that keep events in an outbox (their documents carry them)."""


class AdminSettings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore")

    NATS_URL: str = Field(min_length=1)


class Unreachable(Exception):
    """Something the command needs did not answer; the message says what."""


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="ticketing-admin", description="Inspect and repair the running Ticketing platform."
    )
    top.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for answers")
    commands = top.add_subparsers(dest="command", required=True)

    dead = commands.add_parser("dead", help="events set aside by a service").add_subparsers(
        dest="action", required=True
    )
    dead.add_parser("list", help="the dead letters, oldest first")
    show = dead.add_parser("show", help="one dead letter in full")
    show.add_argument("id", type=int)
    replay = dead.add_parser("replay", help="send dead letters back to their consumer")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--all", action="store_true")

    commands.add_parser("lag", help="pending and ack-pending events of each consumer")
    outbox_command = commands.add_parser("outbox", help="unpublished events of each service")
    outbox_command.add_argument(
        "services", nargs="*", metavar="SERVICE", help=f"of {', '.join(OUTBOX_SERVICES)} (all)"
    )
    payments = commands.add_parser("payments", help="payments operations").add_subparsers(
        dest="action", required=True
    )
    payments.add_parser("reconcile", help="one reconciliation pass, now")
    return top


async def connect(url: str, wait: float) -> NatsClient:
    async def quiet(_: Exception) -> None:
        return None  # the failure is reported once, below

    try:
        return await asyncio.wait_for(
            nats.connect(
                nats_servers(url),
                name="ticketing-admin",
                connect_timeout=wait,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # each server twice (0 would mean for ever)
                reconnect_time_wait=0.2,
                error_cb=quiet,
            ),
            timeout=wait * 2,
        )
    except Exception as error:
        reason = str(error) or type(error).__name__
        raise Unreachable(f"NATS at {url} is unreachable ({reason})") from None


async def run(args: argparse.Namespace, nats_url: str) -> int:
    nc = await connect(nats_url, args.timeout)
    try:
        if args.command == "dead":
            return await dead(nc, args)
        if args.command == "lag":
            return await lag(nc)
        if args.command == "outbox":
            return await outbox(nc, args.services or OUTBOX_SERVICES, args.timeout)
        return await reconcile(nc, max(args.timeout, 60.0))
    finally:
        await nc.close()


async def dead(nc: NatsClient, args: argparse.Namespace) -> int:
    js = nc.jetstream(timeout=args.timeout)
    try:
        await js.stream_info(DEAD_STREAM_NAME)
    except NotFoundError:
        raise Unreachable(
            f"no stream {DEAD_STREAM_NAME}: no service has started on this NATS"
        ) from None
    if args.action == "list":
        rows = [letter.summary() async for letter in dead_letters.dead_letters(js)]
        print_table(rows, ["id", "setAsideAt", "service", "subject", "deliveries", "reason"])
        return 0
    if args.action == "show":
        letter = await dead_letters.dead_letter(js, args.id)
        if letter is None:
            print(f"ticketing-admin: no dead letter {args.id}", file=sys.stderr)
            return 1
        print(json.dumps(shown(letter), indent=2))
        return 0
    letters = (
        [letter async for letter in dead_letters.dead_letters(js)]
        if args.all
        else [await dead_letters.dead_letter(js, args.id)]
    )
    if letters == [None]:
        print(f"ticketing-admin: no dead letter {args.id}", file=sys.stderr)
        return 1
    for letter in filter(None, letters):
        sequence = await dead_letters.replay(js, letter)
        print(f"replayed {letter.id} ({letter.subject}) to {letter.consumer} as {sequence}")
    return 0


def shown(letter: dead_letters.DeadLetter) -> dict[str, Any]:
    try:
        payload: Any = json.loads(letter.data)
    except ValueError:
        payload = letter.data.decode(errors="replace")
    return {**letter.summary(), "headers": letter.original_headers(), "payload": payload}


async def lag(nc: NatsClient) -> int:
    js = nc.jetstream()
    try:
        consumers = await js.consumers_info(STREAM_NAME)
    except NotFoundError:
        raise Unreachable(f"no stream {STREAM_NAME}: no service has started on this NATS") from None
    rows = [
        {
            "consumer": info.name,
            "pending": info.num_pending or 0,
            "ackPending": info.num_ack_pending or 0,
            "redelivered": info.num_redelivered or 0,
        }
        for info in sorted(consumers, key=lambda info: info.name or "")
    ]
    print_table(rows, ["consumer", "pending", "ackPending", "redelivered"])
    return 0


async def ask(nc: NatsClient, service: str, command: str, wait: float) -> Any:
    """A service's answer to an admin command; `Unreachable` when it gives none."""
    try:
        reply = await nc.request(admin_subject(service, command), b"", timeout=wait)
    except NoRespondersError:
        raise Unreachable(f"{service} is not running (no answer on NATS)") from None
    except (TimeoutError, NatsTimeoutError):
        raise Unreachable(f"{service} did not answer within {wait:.0f}s") from None
    answer = json.loads(reply.data)
    if not answer.get("ok"):
        raise Unreachable(f"{service}: {answer.get('error', 'failed')}")
    return answer["result"]


async def outbox(nc: NatsClient, services: Sequence[str], wait: float) -> int:
    answers = await asyncio.gather(
        *(ask(nc, service, "outbox", wait) for service in services),
        return_exceptions=True,
    )
    rows: list[dict[str, Any]] = []
    status = 0
    for service, answer in zip(services, answers, strict=True):
        if isinstance(answer, Unreachable):
            print(f"ticketing-admin: {answer}", file=sys.stderr)
            status = 1
        elif isinstance(answer, BaseException):
            raise answer
        else:
            rows.extend({"service": service, **row} for row in answer)
    print_table(rows, ["service", "collection", "pending", "oldestAgeSeconds"])
    return status


async def reconcile(nc: NatsClient, wait: float) -> int:
    report: dict[str, list[str]] = await ask(nc, "payments", "reconcile", wait)
    for result, orders in report.items():
        print(f"{result}: {len(orders)}{' ' + ' '.join(orders) if orders else ''}")
    return 1 if report.get("failed") else 0


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[str(row.get(column, "")) for column in columns] for row in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    for line in [list(columns), *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> None:
    command_line = parser()
    args = command_line.parse_args(argv)
    unknown = set(getattr(args, "services", None) or ()) - set(OUTBOX_SERVICES)
    if unknown:
        command_line.error(f"no outbox in {', '.join(sorted(unknown))}")
    try:
        settings = AdminSettings()
    except ValidationError as error:
        print(f"ticketing-admin: {describe_settings_error(error)}", file=sys.stderr)
        sys.exit(2)
    try:
        status = asyncio.run(run(args, settings.NATS_URL))
    except Unreachable as error:
        print(f"ticketing-admin: {error}", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)


if __name__ == "__main__":
    main()
