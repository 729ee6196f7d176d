"""The AsyncAPI document of the events (`docs/asyncapi.yaml`): it is what the code makes, it is
valid AsyncAPI 3.0, and what it says about senders and receivers is true of the code and of
the contract. (That each documented receiver really consumes its subject on a running
platform is checked end to end: tests/e2e/test_api_docs.py.)"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from common.events.asyncapi import asyncapi_document, channel_id
from common.events.schemas import EVENT_MODELS
from common.events.subjects import Subjects
from devstack.asyncapi import ASYNCAPI_FILE, asyncapi_yaml
from devstack.platform import REPO_ROOT, SPECS

ASYNCAPI_SCHEMA = REPO_ROOT / "docs" / "schemas" / "asyncapi-3.0.0.json"
CONTRACT_MD = REPO_ROOT.parent / "shared" / "CONTRACT.md"
EVENT_CLASSES = {model.__name__: subject for subject, model in EVENT_MODELS.items()}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ASYNCAPI_FILE.read_text())
    return loaded


def test_the_committed_document_is_what_the_code_makes() -> None:
    assert ASYNCAPI_FILE.read_text() == asyncapi_yaml(), (
        "docs/asyncapi.yaml is out of date with the code: run `make docs` "
        "(uv run python -m devstack.asyncapi) and commit the result"
    )


def validate_asyncapi(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--schemafile", str(ASYNCAPI_SCHEMA), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_document_is_valid_asyncapi_3(tmp_path: Path) -> None:
    result = validate_asyncapi(ASYNCAPI_FILE)
    assert result.returncode == 0, result.stdout + result.stderr

    # The validation is real: an operation with a 2.x action is refused.
    broken = yaml.safe_load(ASYNCAPI_FILE.read_text())
    next(iter(broken["operations"].values()))["action"] = "publish"
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    assert validate_asyncapi(tmp_path / "broken.yaml").returncode != 0


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def test_every_subject_is_a_channel_with_its_payload_schema_and_message_id(
    document: dict[str, Any],
) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert {c["address"] for c in document["channels"].values()} == {s.value for s in Subjects}
    schemas = document["components"]["schemas"]
    for subject, model in EVENT_MODELS.items():
        channel = document["channels"][channel_id(subject)]
        (message_ref,) = channel["messages"].values()
        message = resolve(document, message_ref["$ref"])
        assert message["contentType"] == "application/json"
        assert "Nats-Msg-Id" in message["headers"]["required"]
        payload = resolve(document, message["payload"]["$ref"])
        wire_names = {field.alias or name for name, field in model.model_fields.items()}
        assert set(payload["properties"]) == wire_names, subject
        for prop in payload["properties"].values():
            if "$ref" in prop:
                assert prop["$ref"].removeprefix("#/components/schemas/") in schemas
    for operation in document["operations"].values():
        channel = resolve(document, operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert resolve(document, message["$ref"]) is not None
            assert message["$ref"].startswith(operation["channel"]["$ref"] + "/messages/")
        assert channel["address"] in {s.value for s in Subjects}


def operations_by_service(document: dict[str, Any], action: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for operation in document["operations"].values():
        if operation["action"] == action:
            (tag,) = operation["tags"]
            address = resolve(document, operation["channel"]["$ref"])["address"]
            found.setdefault(tag["name"], set()).add(address)
    return found


def events_made_by(package: str) -> set[str]:
    """The subjects of the events that a service's source code builds (`TicketCreated(...)`)."""
    root = Path(importlib.import_module(package).__file__ or "").parent
    made: set[str] = set()
    for source in root.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name in EVENT_CLASSES:
                    made.add(EVENT_CLASSES[name].value)
    return made


@pytest.mark.parametrize("service", list(SPECS))
def test_a_service_declares_exactly_the_events_its_code_publishes(service: str) -> None:
    declared = {subject.value for subject in SPECS[service].publishes}
    assert declared == events_made_by(service), (
        f"{service}'s ServiceSpec.publishes does not match the events its code builds"
    )


def contract_event_table() -> dict[str, tuple[set[str], set[str]]]:
    """Section 1 of the contract: service -> (listens to, publishes)."""
    section = CONTRACT_MD.read_text().split("## 1.", 1)[1].split("\n## ", 1)[0]
    table: dict[str, tuple[set[str], set[str]]] = {}
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in SPECS:
            listens, publishes = (set(re.findall(r"[a-z]+:[a-z]+", c)) for c in cells[3:])
            table[cells[0]] = (listens, publishes)
    return table


BEYOND_THE_CONTRACT_TABLE: dict[str, tuple[set[str], set[str]]] = {
    "orders": (set(), {"order:completed"}),
    "tickets": ({"order:completed"}, set()),
    "payments": ({"order:completed"}, set()),
}
"""order:completed, which section 9 of the contract needs ("sold" on the seller's page) and
section 1's table does not list yet: orders publishes it, tickets and payments listen."""


def test_senders_and_receivers_are_those_of_the_contract(document: dict[str, Any]) -> None:
    table = contract_event_table()
    for service, (listens, publishes) in BEYOND_THE_CONTRACT_TABLE.items():
        table[service] = (table[service][0] | listens, table[service][1] | publishes)
    assert set(table) == set(SPECS)
    sends = operations_by_service(document, "send")
    receives = operations_by_service(document, "receive")
    for service, (listens, publishes) in table.items():
        assert sends.get(service, set()) == publishes, service
        assert receives.get(service, set()) == listens, service


def test_a_subject_nobody_publishes_is_refused() -> None:
    without_payments = [spec for name, spec in SPECS.items() if name != "payments"]
    with pytest.raises(ValueError, match="payment:created"):
        asyncapi_document(without_payments)
