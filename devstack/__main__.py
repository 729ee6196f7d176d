"""`make dev`: the whole platform on this machine, behind nginx at http://localhost:8080.

Ports come from `<NAME>_PORT` variables (`INGRESS_PORT=9090 make dev`), data lives in
`.local/` (kept across runs; `make clean` removes it; `DEVSTACK_DATA_DIR` moves it), and
`EXPIRATION_WINDOW_SECONDS=60 make dev` shortens reservations to try expiry.
`NATS_NODES=3 REPLICAS=2 make dev` runs it scaled out: a NATS cluster of 3 nodes and two
processes of every service. Ctrl-C or SIGTERM stops everything.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import IO

from devstack.logs import LogFollower
from devstack.platform import (
    DEFAULT_EXPIRATION_WINDOW_SECONDS,
    REPO_ROOT,
    Platform,
    Ports,
    PortsBusy,
    Settings,
    StartError,
    expiration_window_from_env,
)

DATA_DIR = Path(os.environ.get("DEVSTACK_DATA_DIR") or REPO_ROOT / ".local")
"""Everything the platform keeps (databases, JetStream, logs); `make clean` removes it."""
LOCK_FILE = DATA_DIR / "devstack.lock"


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM: stop everything (further signals are ignored while stopping)."""


def on_signal(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Interrupted(signum)


def say(message: str) -> None:
    print(f"devstack: {message}", flush=True)


def shown(path: Path) -> str:
    """A path relative to where the user is, when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def take_lock() -> IO[str] | None:
    """The single-instance lock (held until this process exits), or None if one is running."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    handle = LOCK_FILE.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        say(f"the platform is already running ({holder or 'another make dev'}).")
        say("stop that one first (Ctrl-C in its terminal) to start it again.")
        return None
    return handle


def print_table(platform: Platform) -> None:
    status = platform.status()
    rows = [("component", "URL", "status", "log")]
    for component in platform.components:
        name = "ingress" if component is platform.ingress else component.name
        rows.append(
            (
                name,
                platform.component_url(component),
                status[component.name],
                shown(component.log_path),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    print()
    for index, row in enumerate(rows):
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  " + "  ".join("-" * width for width in widths))
    print()
    print(f"  The marketplace is at {platform.url}  (sample data: make seed)")
    print("  Metrics (Prometheus text; each service's own port, not through the ingress):")
    width = max(map(len, platform.services), default=0)
    for name, service in platform.services.items():
        print(f"    {name:<{width}}  {service.base_url}/metrics")
    print(
        "  Dead letters, consumer lag, outbox: NATS_URL="
        + platform.nats_url
        + " uv run ticketing-admin"
    )
    window = platform.settings.expiration_window_seconds
    if window != DEFAULT_EXPIRATION_WINDOW_SECONDS:
        print(
            f"  Reservations last {window} s (EXPIRATION_WINDOW_SECONDS; "
            f"the default is {DEFAULT_EXPIRATION_WINDOW_SECONDS} s)."
        )
    print("  Logs follow, prefixed by component. Ctrl-C stops everything.")
    print(flush=True)


def watch(platform: Platform) -> None:
    """Run until interrupted, saying so once if a component exits on its own."""
    reported: set[str] = set()
    while True:
        time.sleep(1)
        for component in platform.components:
            if not component.running and component.name not in reported:
                reported.add(component.name)
                code = component.process.returncode if component.process else None
                say(f"{component.name} exited (code {code}); its log: {shown(component.log_path)}")


def scale_from_env(env: Mapping[str, str]) -> tuple[int, int]:
    """`NATS_NODES` and `REPLICAS` (default 1 each)."""
    values = []
    for name in ("NATS_NODES", "REPLICAS"):
        raw = env.get(name) or "1"
        if not raw.isdigit():
            raise ValueError(f"{name} must be a number: {raw!r}")
        values.append(int(raw))
    return values[0], values[1]


def main() -> int:
    try:
        ports = Ports.from_env(os.environ)
        expiration_window = expiration_window_from_env(os.environ)
        nats_nodes, replicas = scale_from_env(os.environ)
        settings = Settings(
            data_dir=DATA_DIR,
            ports=ports,
            expiration_window_seconds=expiration_window,
            nats_nodes=nats_nodes,
            replicas=replicas,
        )
    except ValueError as error:
        say(str(error))
        return 2
    lock = take_lock()
    if lock is None:
        return 1
    try:
        platform = Platform(settings)
    except RuntimeError as error:  # a program is missing
        say(str(error))
        return 1
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}, {platform.url}\n")
    lock.flush()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    follower: LogFollower | None = None
    try:
        platform.check_ports()
        platform.start(progress=say)
        print_table(platform)
        follower = LogFollower({c.name: c.log_path for c in platform.components})
        follower.start()
        watch(platform)
    except PortsBusy as error:
        say(f"{error}.")
        say("another program (or the processes of a `make dev` that was killed outright)")
        say("holds them: stop it, or choose other ports, e.g. INGRESS_PORT=9090 make dev.")
        return 1
    except StartError as error:
        say(f"{error.component} failed to start: {error.reason}")
        if error.log_path is not None:
            print(f"--- last lines of {shown(error.log_path)} ---")
            print(error.log_tail or "(empty)")
            print("---", flush=True)
        return 1
    except Interrupted:
        say("stopping")
        platform.stop()
        if follower is not None:
            follower.stop()
        say("stopped")
        return 0
    finally:
        lock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
