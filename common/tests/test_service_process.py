"""A service process (`common.service.main`) starts serving with what it made while starting
kept out of the cycle collector, and collects its youngest generation less often than
Python's default (every 700 net allocations)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from common.service import YOUNG_GARBAGE_THRESHOLD

PROGRAM = textwrap.dedent(
    """
    import gc, json
    import common.service as service
    from common.settings import ProcessSettings

    def serve(app, *, host, port):
        print(json.dumps({
            "threshold": gc.get_threshold()[0],
            "frozen": gc.get_freeze_count(),
            "young": gc.get_count()[0],
            "host": host,
            "port": port,
        }))

    service.serve = serve
    service.main(service.ServiceSpec(
        name="things", settings=ProcessSettings, dependencies=service.no_dependencies
    ))
    """
)


def test_a_service_serves_with_its_start_frozen_and_fewer_collections() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PORT": "3999", "HOST": "127.0.0.1", "PATH": ""},
    )
    state = json.loads(finished.stdout.strip().splitlines()[-1])

    assert state["threshold"] == YOUNG_GARBAGE_THRESHOLD > 700
    assert state["frozen"] > 10_000  # the modules, models and the app, out of every collection
    assert state["young"] < 100
    assert (state["host"], state["port"]) == ("127.0.0.1", 3999)
