"""Load from outside with `wrk` (the Debian package): one run, its figures parsed from wrk's
report, and the requests it sends described as a Lua script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CONNECTIONS = 32
TIMEOUT_SECONDS = 30
"""Per request: the unpaged list at 10,000 tickets takes seconds under load; a request cut
off by wrk's default (2 s) would count as an error, not as a slow answer."""

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass(frozen=True)
class Request:
    """What every request of a run sends (`ticket_ids`: one per request, in turn, as
    `{"ticketId": ...}` bodies starting at `offset`, so that each reserves a fresh ticket)."""

    path: str
    method: str = "GET"
    body: dict[str, object] | None = None
    headers: tuple[tuple[str, str], ...] = ()
    ticket_ids: Sequence[str] = ()
    bodies: Sequence[dict[str, object]] = ()
    """Bodies sent in turn (e.g. several users' credentials)."""


@dataclass(frozen=True)
class Run:
    rate: float
    """Completed requests per second."""
    requests: int
    p50: float
    """Median latency, seconds."""
    p99: float
    non_2xx: int
    socket_errors: int

    @property
    def answered_rate(self) -> float:
        """Requests per second answered with 2xx/3xx (an error answer is no throughput)."""
        if not self.requests:
            return 0.0
        return self.rate * max(0, self.requests - self.non_2xx) / self.requests

    @property
    def clean(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid Lua string literal for our values


def lua_script(request: Request) -> str:
    headers = dict(request.headers)
    if request.body is not None or request.ticket_ids or request.bodies:
        headers.setdefault("Content-Type", "application/json")
    header_table = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    lines = [f"local headers = {{{header_table}}}"]
    if request.ticket_ids or request.bodies:
        bodies = (
            [json.dumps({"ticketId": ticket_id}) for ticket_id in request.ticket_ids]
            if request.ticket_ids
            else [json.dumps(body) for body in request.bodies]
        )
        lines += [
            "local bodies = {" + ", ".join(_lua_string(b) for b in bodies) + "}",
            "local n = 0",
            "function init(args) n = tonumber(args[1] or '0') end",
            "request = function()",
            "  n = n + 1",
            "  local body = bodies[((n - 1) % #bodies) + 1]",
            f"  return wrk.format({_lua_string(request.method)}, "
            f"{_lua_string(request.path)}, headers, body)",
            "end",
        ]
    else:
        body = "nil" if request.body is None else _lua_string(json.dumps(request.body))
        lines += [
            "request = function()",
            f"  return wrk.format({_lua_string(request.method)}, "
            f"{_lua_string(request.path)}, headers, {body})",
            "end",
        ]
    return "\n".join(lines) + "\n"


def _seconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(report: str) -> Run:
    """wrk's report (run with `--latency`)."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", report)
    requests = re.search(r"(\d+) requests in", report)
    p50 = re.search(r"^\s+50%\s+(\S+)", report, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", report, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    if rate is None or requests is None:
        raise ValueError(f"wrk gave no figures:\n{report}")
    return Run(
        rate=float(rate.group(1)),
        requests=int(requests.group(1)),
        p50=_seconds(p50.group(1)) if p50 else 0.0,
        p99=_seconds(p99.group(1)) if p99 else 0.0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in socket.groups()) if socket else 0,
    )


def run(
    base_url: str,
    request: Request,
    *,
    seconds: float,
    connections: int = CONNECTIONS,
    offset: int = 0,
) -> Run:
    """One wrk run of `seconds` against `base_url` (one wrk thread: wrk's own CPU stays
    small beside the servers on a small machine)."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as scratch:
        script = Path(scratch) / "request.lua"
        script.write_text(lua_script(request))
        argv = [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={TIMEOUT_SECONDS}s",
            "--latency",
            "-s",
            str(script),
            base_url,
            "--",
            str(offset),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)
