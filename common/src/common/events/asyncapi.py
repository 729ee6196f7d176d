"""The AsyncAPI 3.0 document of the events, made from the code.

Every subject is a channel (its address is the subject, `ticket:created`) carrying one
message: the payload's JSON schema comes from its model in `common.events.schemas` (as it is
written on the wire: camelCase, serialization mode), with the `Nats-Msg-Id` header that
JetStream deduplicates on. The operations say which service sends each subject (its
`ServiceSpec.publishes`) and which receive it (its listeners: subject, queue group, and the
durable JetStream consumer every replica of the service shares, `x-durable-consumer`).

`python -m devstack.asyncapi` (`make docs`) writes it to `docs/asyncapi.yaml` for every
service of the platform; a test fails when the committed file is not what the code makes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pydantic.json_schema import models_json_schema

from common.events.listener import Listener
from common.events.schemas import EVENT_MODELS
from common.events.stream import DUPLICATE_WINDOW_SECONDS, STREAM_NAME
from common.events.subjects import Subjects
from common.service import ServiceSpec

ASYNCAPI_VERSION = "3.0.0"
NATS_BINDING_VERSION = "0.1.0"
SCHEMAS = "#/components/schemas/"

SERVERS = {
    "production": {
        "host": "nats-srv:4222",
        "protocol": "nats",
        "description": "The JetStream cluster in Kubernetes (`infra/`).",
    },
    "local": {
        "host": "localhost:4222",
        "protocol": "nats",
        "description": "`make dev`'s nats-server, with JetStream.",
    },
}

MESSAGE_HEADERS = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": (
                "The event's id. JetStream stores a message whose id it has seen within "
                f"{DUPLICATE_WINDOW_SECONDS:.0f} seconds only once, so a repeated publish "
                "(a retry, the outbox relay) is harmless."
            ),
        }
    },
    "required": ["Nats-Msg-Id"],
}


class _NotBuilt:
    """Stands in for a service's dependencies, and any part of them, when its listeners are
    made only to read their classes: a listener keeps what its constructor is given."""

    def __getattr__(self, name: str) -> _NotBuilt:
        return self


def listener_classes(spec: ServiceSpec[Any, Any]) -> list[type[Listener[Any]]]:
    """The classes of `spec`'s listeners (subject, queue group, event), read without starting
    the service."""
    return [type(listener) for listener in spec.listeners(cast(Any, _NotBuilt()))]


def channel_id(subject: Subjects) -> str:
    """`ticketCreated` for `ticket:created`."""
    first, *rest = subject.value.split(":")
    return first + "".join(word.capitalize() for word in rest)


def asyncapi_document(specs: Sequence[ServiceSpec[Any, Any]]) -> dict[str, Any]:
    """The AsyncAPI document of every event that the services `specs` send and receive."""
    payloads, definitions = models_json_schema(
        [(model, "serialization") for model in EVENT_MODELS.values()],
        by_alias=True,
        ref_template=SCHEMAS + "{model}",
    )
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for subject, model in EVENT_MODELS.items():
        name = channel_id(subject)
        summary = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        messages[name] = {
            "name": model.__name__,
            "title": subject.value,
            "summary": summary,
            "contentType": "application/json",
            "headers": MESSAGE_HEADERS,
            "payload": payloads[(model, "serialization")],
        }
        channels[name] = {
            "address": subject.value,
            "title": subject.value,
            "description": f"Stored in the JetStream stream `{STREAM_NAME}`.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }

    operations: dict[str, Any] = {}
    for spec in specs:
        for subject in spec.publishes:
            operations[f"{spec.name}Sends{_title(subject)}"] = _operation(
                "send", spec.name, subject, f"{spec.name} publishes {subject.value}."
            )
        for listener in listener_classes(spec):
            subject = listener.subject
            operation = _operation(
                "receive",
                spec.name,
                subject,
                f"{spec.name} handles {subject.value} with the durable consumer "
                f"`{listener.durable_name()}` (`x-durable-consumer`), shared by every replica "
                "of the service (each event is handled by one of them), and acks it once its "
                "effect is stored.",
            )
            operation["bindings"] = {
                "nats": {"queue": listener.queue_group, "bindingVersion": NATS_BINDING_VERSION}
            }
            operation["x-durable-consumer"] = listener.durable_name()
            operations[f"{spec.name}Receives{_title(subject)}"] = operation

    sent = {subject for spec in specs for subject in spec.publishes}
    unsent = [subject.value for subject in EVENT_MODELS if subject not in sent]
    if unsent:
        raise ValueError(f"no service publishes {', '.join(unsent)}")

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Ticketing events",
            "version": "1.0.0",
            "description": (
                "The events the Ticketing services exchange over NATS JetStream: every "
                f"subject is stored in the stream `{STREAM_NAME}`. Payloads are JSON, "
                "camelCase. Made from the code by `make docs`; do not edit by hand."
            ),
            "tags": [{"name": spec.name} for spec in specs if _takes_part(spec)],
        },
        "defaultContentType": "application/json",
        "servers": SERVERS,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": definitions.get("$defs", {}),
        },
    }


def _takes_part(spec: ServiceSpec[Any, Any]) -> bool:
    return bool(spec.publishes) or bool(listener_classes(spec))


def _title(subject: Subjects) -> str:
    name = channel_id(subject)
    return name[:1].upper() + name[1:]


def _operation(action: str, service: str, subject: Subjects, description: str) -> dict[str, Any]:
    name = channel_id(subject)
    return {
        "action": action,
        "title": f"{service} {action}s {subject.value}",
        "description": description,
        "channel": {"$ref": f"#/channels/{name}"},
        "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}],
        "tags": [{"name": service}],
    }
