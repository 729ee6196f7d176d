"""The ceiling of an HTTP figure: a bare FastAPI app, served exactly as the services are
(`common.service.serve` and `common.observability.logs.configure_logging`: the same uvicorn
settings and logging).

It answers every path the benchmark loads with a small constant JSON body and does nothing
else: no database, no session, no validation. Behind an nginx with the platform's own
configuration (`benchmarks.stack`), its rate is the most a service's route could reach on
this machine. `python -m benchmarks.bare` (PORT, HOST, LOG_LEVEL as for a service).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from common.observability.logs import configure_logging
from common.service import serve
from common.settings import ProcessSettings, load_settings

app = FastAPI()


@app.get("/{path:path}")
async def read(path: str) -> dict[str, Any]:
    return {"ok": True}


@app.post("/{path:path}", status_code=201)
async def write(path: str) -> dict[str, Any]:
    return {"ok": True}


def main() -> None:
    settings = load_settings(ProcessSettings)
    configure_logging("bare", settings.LOG_LEVEL, settings.LOG_FORMAT)
    serve(app, host=settings.HOST, port=settings.PORT)


if __name__ == "__main__":
    main()
