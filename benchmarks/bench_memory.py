"""Memory: each service started as in production (`python -m <service>`) against real NATS,
the Mongo stand-in and Redis; prints its resident memory once it answers /readyz.

Figures come from /proc/<pid>/status (Linux): VmRSS now, VmHWM the peak so far.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks._support import JWT_KEY, fresh_database, heading, mongo_server, scratch_dir, table
from testsupport.servers import (
    ManagedProcess,
    NatsServer,
    RedisServer,
    ServiceProcess,
    free_port,
)

SERVICES = ("auth", "tickets", "orders", "payments", "expiration", "client")
SETTLE_SECONDS = 1.0
"""Time after the last service is ready, so start-up work in the background has finished."""


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    figures: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            figures[name] = int(value.split()[0])
    return figures


def service_env(name: str, nats_url: str, mongo_uri: str, redis_url: str) -> dict[str, str]:
    """The contract's variables for one service; Stripe and the API are never called here."""
    env = {
        "JWT_KEY": JWT_KEY,
        "NATS_URL": nats_url,
        "NATS_CLIENT_ID": f"bench-{name}",
        "MONGO_URI": mongo_uri,
        "COOKIE_SECURE": "false",
    }
    if name == "expiration":
        env["REDIS_URL"] = redis_url
    if name == "payments":
        env["STRIPE_KEY"] = "sk_test_bench"
        env["STRIPE_API_BASE"] = f"http://127.0.0.1:{free_port()}"
    if name == "client":
        env["API_BASE_URL"] = f"http://127.0.0.1:{free_port()}"
    return env


def row(name: str, process: ManagedProcess) -> list[object]:
    if process.process is None:
        raise RuntimeError(f"{name} is not running")
    figures = memory_kib(process.process.pid)
    return [name, f"{figures['VmRSS'] / 1024:.1f}", f"{figures['VmHWM'] / 1024:.1f}"]


def main() -> None:
    heading("memory after start-up (each service as a process, /proc/<pid>/status)")
    with ExitStack() as stack:
        workdir = stack.enter_context(scratch_dir("memory"))
        mongo = stack.enter_context(mongo_server(workdir))
        databases = {name: stack.enter_context(fresh_database(mongo.url)) for name in SERVICES}
        nats = NatsServer(workdir / "nats")
        redis = RedisServer(workdir / "redis")
        services = [
            ServiceProcess(
                name, workdir / "logs", service_env(name, nats.url, databases[name], redis.url)
            )
            for name in SERVICES
        ]
        started: list[ManagedProcess] = []
        try:
            for process in [nats, redis, *services]:
                process.die_with_parent = True
                started.append(process)
                process.start()  # a service waits until /readyz answers 200
            time.sleep(SETTLE_SECONDS)
            rows = [row(service.name, service) for service in services]
            infrastructure = [row("nats-server", nats), row("redis-server", redis)]
            if mongo.stand_in is not None:
                infrastructure.append(row("mongo stand-in", mongo.stand_in))
        finally:
            for process in reversed(started):
                process.stop()
    print(table(["service", "RSS MiB", "peak RSS MiB"], rows))
    total = sum(float(str(r[1])) for r in rows)
    print(f"all six services: {total:.0f} MiB resident")
    print(table(["infrastructure", "RSS MiB", "peak RSS MiB"], infrastructure))


if __name__ == "__main__":
    main()
