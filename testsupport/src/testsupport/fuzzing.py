"""Fuzzing a service through its own OpenAPI with schemathesis, in-process.

Every service must answer any request, however malformed, with a contract answer: never a
5xx, and every 4xx in the error shape `{"errors": [{"message": str, "field"?: str}]}`.

The schema of a service is read at import time from an app built without settings (making
the OpenAPI needs no database), so `@schema.parametrize()` can make one pytest test per
operation. Each test then sends its generated requests to an app of its own that its fixture
builds on a fresh database (`unstarted_app` of `testsupport.plugin`, `check_call(case,
app)`). Schemathesis runs that app's lifespan on its own event
loop and ends it when the test ends (its pytest plugin), so the app is never started in
pytest's loop too. Generation is derandomized: a run is reproducible, and a failure shows
the request (as a curl command) and the response.

Generated text never holds what breaks services most (lone surrogates, NUL, control
characters): `load_schema` mixes `HOSTILE_TEXT` into generated bodies, and
`check_hostile_text` sends each such text in each field of a valid request.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    CheckFunction,
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from common.service import ServiceSpec
from common.text import is_valid_unicode

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
"""Generated cases per operation and phase: a few hundred requests per service in all,
within seconds. `FUZZ_EXAMPLES=2000 uv run pytest -k fuzz` searches deeper (still
reproducible: generation is derandomized)."""

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=False,
    # A failure is reported as generated (with its curl command), without minutes of shrinking.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        # One app and database per operation on purpose: state builds up across cases.
        HealthCheck.function_scoped_fixture,
    ],
)
"""Hypothesis settings of every fuzz test (`@FUZZ_SETTINGS` under `@schema.parametrize()`)."""

STATEFUL_SETTINGS = settings(
    FUZZ_SETTINGS, max_examples=max(FUZZ_EXAMPLES // 2, 1), stateful_step_count=5
)
"""Sequences of linked calls (create a resource, then read or change it), each a few steps."""


HOSTILE_TEXT = [
    "\ud800",
    "lone\udfffsurrogate",
    "\x00",
    "nul\x00byte",
    "\x1b[31mred",
    "line\nbreak",
    "\u202eright-to-left",
    "\u2028",
    "\ufeff",
    " \t ",
    "x" * 5_000,
]
"""Strings a client may send that generated text never contains: lone surrogates (valid in
JSON escapes, not encodable as UTF-8), NUL and other control characters, direction and
line-separator characters, blank and very long text."""


def load_schema(
    service: ServiceSpec[Any, Any],
    *,
    path_parameters: Mapping[str, Sequence[str]] | None = None,
    bodies: Sequence[Mapping[str, Any]] = (),
) -> OpenApiSchema:
    """The schemathesis schema of the service's OpenAPI (read from an app built without
    settings, and not started: the OpenAPI needs neither), generating:

    - in about half of the requests, stored records the test names, so that they get past
      "not found" to the rules behind it: `path_parameters={"ticket_id": [ids]}` puts one of
      the ids in the path parameter of that name; one of `bodies` (e.g. `{"ticketId": id}`)
      is merged into a generated JSON object body;
    - then, in about half of the JSON object bodies, one field replaced by `HOSTILE_TEXT`.

    Single and linked (stateful) calls alike.
    """
    app = service.create_app(service.settings.model_construct())
    schema = schemathesis.openapi.from_dict(app.openapi(), config=schemathesis.Config())
    known_paths = dict(path_parameters or {})
    known_bodies = [dict(body) for body in bodies]

    @schema.hook
    def flatmap_path_parameters(
        context: schemathesis.HookContext, parameters: dict[str, Any] | None
    ) -> st.SearchStrategy[dict[str, Any] | None]:
        options = [
            {**parameters, name: record}
            for name, records in known_paths.items()
            if parameters and name in parameters
            for record in records
        ]
        return _sometimes(parameters, options)

    @schema.hook
    def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        declared = [
            name
            for content in (context.operation.body if context.operation else [])
            for name in content.definition.get("schema", {}).get("properties", {})
        ]
        known = _sometimes(body, [{**body, **record} for record in known_bodies])
        return known.flatmap(lambda body: _with_hostile_text(body, declared or sorted(body)))

    return schema


def _with_hostile_text(
    body: dict[str, Any], fields: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    """`body` half of the time, else `body` with one of `fields` set to a hostile text."""
    if not fields:
        return st.just(body)
    hostile = st.tuples(st.sampled_from(fields), st.sampled_from(HOSTILE_TEXT))
    return st.one_of(st.just(body), hostile.map(lambda change: {**body, change[0]: change[1]}))


def _sometimes(original: Any, options: list[Any]) -> st.SearchStrategy[Any]:
    """`original` half of the time, else one of `options`."""
    return st.one_of(st.just(original), st.sampled_from(options)) if options else st.just(original)


def error_shape_problem(body: bytes, content_type: str) -> str | None:
    """What is wrong with a 4xx answer, or None when it is in the contract's error shape."""
    if not content_type.startswith("application/json"):
        return f"Content-Type is {content_type!r}, not JSON"
    try:
        document = json.loads(body)
    except ValueError:
        return "the body is not JSON"
    if not isinstance(document, dict) or set(document) != {"errors"}:
        return 'the body is not an object with exactly the key "errors"'
    errors = document["errors"]
    if not isinstance(errors, list) or not errors:
        return '"errors" is not a non-empty list'
    for entry in errors:
        if not isinstance(entry, dict) or not {"message"} <= set(entry) <= {"message", "field"}:
            return f"{entry!r} is not {{message, field?}}"
        if not isinstance(entry["message"], str) or not entry["message"]:
            return f"{entry!r} has no message"
        if "field" in entry and not isinstance(entry["field"], str):
            return f"{entry!r} has a field that is not a string"
    return None


def answers_in_error_shape(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case[Any]
) -> bool | None:
    """Schemathesis check: a 4xx answer is in the contract's error shape."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        problem = error_shape_problem(response.content, content_type)
        if problem is not None:
            raise AssertionError(f"{response.status_code} answer not in the error shape: {problem}")
    return None


API_CHECKS: list[CheckFunction] = [
    not_a_server_error,
    answers_in_error_shape,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
"""What every answer of an API service must satisfy: a contract answer, and one its OpenAPI
documents (the status, the content type, the body's schema, the headers)."""


def check_call(
    case: schemathesis.Case[Any],
    app: FastAPI,
    cookies: Mapping[str, str] | None = None,
    checks: Sequence[CheckFunction] = API_CHECKS,
) -> schemathesis.Response:
    """Send `case` to `app` (with `cookies`) and apply `checks` to the answer. An exception
    that escapes the app (a 500 under uvicorn) fails the test with its traceback."""
    response = case.call(app=app, cookies=dict(cookies or {}))
    case.validate_response(response, checks=list(checks))
    return response


@dataclass
class ValidCall:
    """A request the service accepts: `operation` as `"PUT /api/tickets/{ticket_id}"`."""

    operation: str
    body: dict[str, Any]
    path_parameters: dict[str, str] = field(default_factory=dict)


def check_hostile_text(
    schema: OpenApiSchema,
    app: FastAPI,
    calls: Sequence[ValidCall],
    cookies: Mapping[str, str] | None = None,
) -> None:
    """Send each of `calls` once per field of its body and text of `HOSTILE_TEXT` in that
    field. Every answer must be a contract answer (`API_CHECKS`), and text that is not valid
    Unicode (a lone surrogate) must be refused with a 400 naming the field."""
    failures: list[str] = []
    for call in calls:
        method, path = call.operation.split(" ", 1)
        operation = schema[path][method]
        for name in call.body:
            for text in HOSTILE_TEXT:
                case = operation.Case(
                    body={**call.body, name: text},
                    path_parameters=call.path_parameters,
                    media_type="application/json",
                )
                sent = f"{call.operation} with {name}={text[:30]!r}"
                try:
                    response = check_call(case, app, cookies)
                except Exception as error:  # an escaping exception is a 500 under uvicorn
                    failures.append(f"{sent}: {type(error).__name__}: {error}")
                    continue
                if not is_valid_unicode(text) and (
                    response.status_code != 400
                    or name not in [e.get("field") for e in response.json()["errors"]]
                ):
                    failures.append(f"{sent}: {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def run_stateful(
    schema: OpenApiSchema, app: FastAPI, cookies: Mapping[str, str] | None = None
) -> None:
    """Run linked sequences of calls (schemathesis infers the links from the paths, e.g.
    `POST /api/tickets` then `PUT /api/tickets/{ticket_id}` with the new id) against `app`."""
    workflow = schema.as_state_machine()

    class AgainstApp(workflow):  # type: ignore[valid-type,misc]  # a class made at run time
        def get_call_kwargs(self, case: schemathesis.Case[Any]) -> dict[str, Any]:
            return {"app": app, "cookies": dict(cookies or {})}

        def validate_response(
            self,
            response: schemathesis.Response,
            case: schemathesis.Case[Any],
            additional_checks: list[CheckFunction] | None = None,
            **kwargs: Any,
        ) -> None:
            case.validate_response(response, checks=API_CHECKS)

    AgainstApp.run(settings=STATEFUL_SETTINGS)


def with_startup(app: FastAPI, prepare: Callable[[], Awaitable[None]]) -> FastAPI:
    """`app`, running `prepare` (e.g. storing records to fuzz against) once its lifespan has
    connected the database, on the loop the app runs on."""
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with started(application) as state:
            await prepare()
            yield state

    app.router.lifespan_context = lifespan
    return app
