"""Who may do what on NATS: one user per service, each allowed to publish only the events it
owns and to read only the events it listens to, and a `ticketing-admin` user for the admin
command. `python -m devstack.nats_permissions` writes the table as nats-server configuration
to `infra/k8s/nats/authorization.conf` (what the Kubernetes NATS servers load); a test checks
the committed file against this module and runs a real nats-server with it.

Everything is derived from the code: a service's `ServiceSpec.publishes`, its listeners
(subject and durable consumer) and whether it reads sessions. A service may:

- publish its own events (`ticket:created` ...) to JetStream and on their fast lane
  (`fastlane.<subject>`, `common.events.fast_lane`), and its dead letters (`dead.<service>.>`);
- receive only its own durable consumers' events: create and read them
  (`$JS.API.CONSUMER.*.TICKETING.<durable>`), ack them (`$JS.ACK.TICKETING.<durable>.>`), and
  subscribe to the fast lane of the subjects it listens to;
- create and update the streams `TICKETING` and `TICKETING_DEAD` (every service applies the
  stream's configuration at start-up, `common.events.stream`);
- follow the revoked sessions (`common.revocation`) if it reads sessions; only auth writes them;
- answer the admin command's requests on `admin.<service>.>` (replies go to the requester's
  inbox: `allow_responses`).

The client publishes nothing and has no durable consumer: for its live pages it watches the
stream (`common.events.watch`: ordered consumers of its own, without acks), which is all its
user may do.

The passwords are not here: each is the environment variable `NATS_PASSWORD_<SERVICE>` of
the NATS server (Kubernetes: the Secret `nats-users`, infra/README.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from common.events.asyncapi import listener_classes
from common.events.fast_lane import fast_lane_subject
from common.events.stream import STREAM_NAME
from common.events.subjects import Subjects
from common.revocation import BUCKET
from common.settings import variables
from devstack.platform import REPO_ROOT, SPECS

AUTHORIZATION_FILE = REPO_ROOT / "infra" / "k8s" / "nats" / "authorization.conf"
HEADER = (
    "# Made from the code by `python -m devstack.nats_permissions`; do not edit.\n"
    "# Each password is the server's environment variable NATS_PASSWORD_<USER>.\n"
)

DEAD_LETTER_STREAM = f"{STREAM_NAME}_DEAD"
DEAD_LETTER_PREFIX = "dead"
ADMIN_PREFIX = "admin"
ADMIN_USER = "ticketing-admin"
KV_STREAM = f"KV_{BUCKET}"
INBOX = "_INBOX.>"

STREAM_MANAGEMENT = [
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",  # a pull subscription finds its stream by subject
    *(
        f"$JS.API.STREAM.{action}.{stream}"
        for stream in (STREAM_NAME, DEAD_LETTER_STREAM)
        for action in ("INFO", "CREATE", "UPDATE")
    ),
]
"""Every service applies the streams' configuration when it starts."""

REVOCATION_READ = [
    f"$JS.API.STREAM.{action}.{KV_STREAM}" for action in ("INFO", "CREATE", "UPDATE")
] + [
    # The watch is an ordered consumer: ephemeral, re-created after a reconnection.
    f"$JS.API.CONSUMER.CREATE.{KV_STREAM}",
    f"$JS.API.CONSUMER.CREATE.{KV_STREAM}.>",
    f"$JS.API.CONSUMER.INFO.{KV_STREAM}.*",
    f"$JS.API.CONSUMER.DELETE.{KV_STREAM}.*",
    f"$JS.API.DIRECT.GET.{KV_STREAM}.>",
    f"$JS.API.DIRECT.GET.{KV_STREAM}",
    f"$JS.API.STREAM.MSG.GET.{KV_STREAM}",
    f"$JS.FC.{KV_STREAM}.>",  # flow control of the push consumer
]
"""What following the revoked sessions takes (`common.revocation`)."""

WATCH_READ = [
    f"$JS.API.STREAM.INFO.{STREAM_NAME}",
    f"$JS.API.CONSUMER.CREATE.{STREAM_NAME}",
    f"$JS.API.CONSUMER.CREATE.{STREAM_NAME}.>",
    f"$JS.API.CONSUMER.INFO.{STREAM_NAME}.*",
    f"$JS.API.CONSUMER.DELETE.{STREAM_NAME}.*",
    f"$JS.FC.{STREAM_NAME}.>",  # flow control of the ordered (push) consumers
]
"""What watching the stream takes (`common.events.watch`): the client's live pages."""

ADMIN_READ = [
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.NAMES.*",
    "$JS.API.CONSUMER.LIST.*",
    "$JS.API.CONSUMER.INFO.*.*",
]
"""What the admin command reads of JetStream (streams, consumers and their lag)."""


@dataclass
class Permissions:
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    allow_responses: bool = False


def uses_nats(service: str) -> bool:
    return "NATS_URL" in variables(SPECS[service].settings)


def nats_services() -> list[str]:
    return [name for name in SPECS if uses_nats(name)]


def published_subjects(service: str) -> list[str]:
    """The events `service` publishes (auth: its revocations, puts into the bucket)."""
    spec = SPECS[service]
    subjects = [subject.value for subject in spec.publishes]
    if service == "auth":
        subjects.append(f"$KV.{BUCKET}.>")
    return subjects


def durable_consumers(service: str) -> list[tuple[str, str]]:
    """(durable name, subject) of each of the service's listeners."""
    return [
        (listener.durable_name(), listener.subject.value)
        for listener in listener_classes(SPECS[service])
    ]


def watches_only(service: str) -> bool:
    """A service that uses NATS without publishing or listening: it only watches the stream."""
    return not published_subjects(service) and not durable_consumers(service)


def watcher_permissions() -> Permissions:
    return Permissions(publish=list(WATCH_READ), subscribe=[INBOX])


def service_permissions(service: str) -> Permissions:
    spec = SPECS[service]
    if watches_only(service):
        return watcher_permissions()
    publish: list[str] = []
    for subject in published_subjects(service):
        publish += [subject, fast_lane_subject(subject)]
    publish.append(f"{DEAD_LETTER_PREFIX}.{service}.>")
    publish += STREAM_MANAGEMENT
    subscribe = [INBOX]
    for durable, subject in durable_consumers(service):
        publish += [
            f"$JS.API.CONSUMER.INFO.{STREAM_NAME}.{durable}",
            f"$JS.API.CONSUMER.CREATE.{STREAM_NAME}.{durable}",
            f"$JS.API.CONSUMER.CREATE.{STREAM_NAME}.{durable}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM_NAME}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{STREAM_NAME}.{durable}",
            f"$JS.ACK.{STREAM_NAME}.{durable}.>",
        ]
        subscribe.append(fast_lane_subject(subject))
    if spec.reads_sessions or service == "auth":
        publish += REVOCATION_READ
    subscribe.append(f"{ADMIN_PREFIX}.{service}.>")
    return Permissions(publish=_unique(publish), subscribe=_unique(subscribe), allow_responses=True)


def admin_permissions() -> Permissions:
    """The admin command: reads JetStream, reads and replays dead letters (a replay publishes
    the event again on its subject), asks services over `admin.>`."""
    dead_letters = [
        f"$JS.API.CONSUMER.{action}.{DEAD_LETTER_STREAM}{suffix}"
        for action, suffix in (
            ("CREATE", ""),
            ("CREATE", ".>"),
            ("DELETE", ".*"),
            ("MSG.NEXT", ".*"),
        )
    ] + [
        f"$JS.ACK.{DEAD_LETTER_STREAM}.>",
        f"$JS.API.STREAM.MSG.DELETE.{DEAD_LETTER_STREAM}",  # a replayed dead letter leaves
    ]
    events = [subject.value for subject in Subjects]
    publish = [*ADMIN_READ, *dead_letters, f"{DEAD_LETTER_PREFIX}.>", f"{ADMIN_PREFIX}.>", *events]
    return Permissions(publish=_unique(publish), subscribe=[INBOX])


def users() -> dict[str, Permissions]:
    """Every NATS user: the services that use NATS, then the admin command."""
    table = {service: service_permissions(service) for service in nats_services()}
    table[ADMIN_USER] = admin_permissions()
    return table


def password_variable(user: str) -> str:
    return "NATS_PASSWORD_" + user.upper().replace("-", "_")


def authorization_conf() -> str:
    """The `authorization` block of nats-server's configuration, as committed."""
    lines = [HEADER.rstrip("\n"), "authorization {", "  users: ["]
    for user, permissions in users().items():
        lines += [
            "    {",
            f"      user: {json.dumps(user)}",
            f"      password: ${password_variable(user)}",
            "      permissions: {",
            f"        publish: {{ allow: {_list(permissions.publish)} }}",
            f"        subscribe: {{ allow: {_list(permissions.subscribe)} }}",
        ]
        if permissions.allow_responses:
            lines.append("        allow_responses: true")
        lines += ["      }", "    }"]
    lines += ["  ]", "}"]
    return "\n".join(lines) + "\n"


def _list(subjects: list[str]) -> str:
    inner = "".join(f"\n          {json.dumps(subject)}" for subject in subjects)
    return f"[{inner}\n        ]"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def main(path: Path = AUTHORIZATION_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(authorization_conf())
    print(f"wrote {path.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
