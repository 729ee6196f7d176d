"""`make dev` itself (`python -m devstack`): the table, one instance at a time, a clean stop
on SIGTERM and Ctrl-C with nothing left running, data that survives a restart, and the
reservation length taken from the caller's `EXPIRATION_WINDOW_SECONDS`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from devstack.ingress import load_routes, nginx_config
from devstack.platform import (
    DEFAULT_EXPIRATION_WINDOW_SECONDS,
    REPO_ROOT,
    SERVICES,
    Platform,
    Ports,
    Settings,
    expiration_window_from_env,
    port_in_use,
)

pytestmark = pytest.mark.integration

READY_LINE = "Logs follow"


class Runner:
    """`python -m devstack` as a child process, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devstack"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(READY_LINE in line for line in self.lines):
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.2)

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        code = self.process.wait(60)
        self._reader.join(5)
        return code


def processes_of(data_dir: Path) -> list[str]:
    """Every live process started for this data dir (they all inherit DEVSTACK_DATA_DIR)."""
    marker = f"DEVSTACK_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


@pytest.fixture
def dev_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    ports = Ports.free()
    env = {**os.environ, "DEVSTACK_DATA_DIR": str(tmp_path / "local")}
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})
    yield env
    # Nothing may outlive a test, whatever happened in it.
    for line in processes_of(tmp_path / "local"):
        pytest.fail(f"left running: {line}")


def seconds_reserved(url: str) -> float:
    """Sell a ticket and order it through the ingress; how long the order holds it."""
    with httpx.Client(base_url=url, timeout=15) as visitor:
        credentials = {"email": "holder@example.com", "password": "pass1234"}
        assert visitor.post("/api/users/signup", json=credentials).status_code == 201
        response = visitor.post("/api/tickets", json={"title": "Held", "price": 5})
        assert response.status_code == 201, response.text
        ticket_id = response.json()["id"]
        deadline = time.monotonic() + 20
        while True:  # orders learns of the ticket through an event, a moment later
            ordered_at = datetime.now(UTC)
            response = visitor.post("/api/orders", json={"ticketId": ticket_id})
            if response.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code == 201, response.text
        expires_at = datetime.fromisoformat(response.json()["expiresAt"].replace("Z", "+00:00"))
        return (expires_at - ordered_at).total_seconds()


def assert_metrics_listed_and_not_behind_the_ingress(table: str, url: str) -> None:
    """The table says where each service's metrics are; they answer there, and the ingress
    (whose `/` is the client's) does not give them out."""
    listed = dict(re.findall(r"^\s+(\w+)\s+(http://127\.0\.0\.1:\d+/metrics)$", table, re.M))
    assert set(listed) == {"auth", "tickets", "orders", "payments", "expiration", "client"}
    for name, metrics_url in listed.items():
        scraped = httpx.get(metrics_url, timeout=10)
        assert scraped.status_code == 200, name
        assert f'service="{name}"' in scraped.text, name
    hidden = httpx.get(f"{url}/metrics", timeout=10)
    assert hidden.status_code == 404
    assert "ticketing_" not in hidden.text


def test_make_dev_runs_once_stops_cleanly_and_keeps_data(dev_env: dict[str, str]) -> None:
    data_dir = Path(dev_env["DEVSTACK_DATA_DIR"])
    url = f"http://localhost:{dev_env['INGRESS_PORT']}"
    runner = Runner({**dev_env, "EXPIRATION_WINDOW_SECONDS": "120"})
    try:
        runner.wait_ready()
        table = runner.output.split(READY_LINE)[0]
        for name in ("nats", "mongo", "redis", "stripe", "auth", "tickets", "orders"):
            row = next(line for line in table.splitlines() if line.strip().startswith(name))
            assert " ready " in row, row
            assert str(data_dir / f"{name}.log") in row, row
        assert url in table
        assert "Reservations last 120 s (EXPIRATION_WINDOW_SECONDS" in table
        assert_metrics_listed_and_not_behind_the_ingress(table, url)
        assert 115 <= seconds_reserved(url) <= 121

        email = "kept@example.com"
        body = {"email": email, "password": "pass1234"}
        assert httpx.post(f"{url}/api/users/signup", json=body).status_code == 201

        second = subprocess.run(
            [sys.executable, "-m", "devstack"],
            cwd=REPO_ROOT,
            env=dev_env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "already running" in second.stdout, second.stdout + second.stderr
        assert url in second.stdout
        assert httpx.get(f"{url}/api/users/currentuser").status_code == 200
    finally:
        code = runner.stop(signal.SIGTERM)
    assert code == 0, runner.output
    assert processes_of(data_dir) == []
    ports = [int(dev_env[f"{name.upper()}_PORT"]) for name, _ in Ports().items()]
    assert [port for port in ports if port_in_use(port)] == []

    # Started again on the same data: the user is still there. Ctrl-C stops it as well.
    runner = Runner(dev_env)
    try:
        runner.wait_ready()
        assert "Reservations last" not in runner.output  # the default, not worth a line
        response = httpx.post(f"{url}/api/users/signin", json=body)
        assert response.status_code == 200, response.text
    finally:
        code = runner.stop(signal.SIGINT)
    assert code == 0, runner.output
    assert processes_of(data_dir) == []


@pytest.mark.parametrize("value", ["soon", "0", "-60", "1.5", "60s"])
def test_make_dev_refuses_an_invalid_expiration_window_with_one_line(
    dev_env: dict[str, str], value: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devstack"],
        cwd=REPO_ROOT,
        env={**dev_env, "EXPIRATION_WINDOW_SECONDS": value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout.splitlines() == [
        f"devstack: EXPIRATION_WINDOW_SECONDS must be a positive whole number of seconds: {value!r}"
    ]


@pytest.mark.parametrize(
    ("env", "seconds"),
    [
        ({}, DEFAULT_EXPIRATION_WINDOW_SECONDS),
        ({"EXPIRATION_WINDOW_SECONDS": ""}, DEFAULT_EXPIRATION_WINDOW_SECONDS),
        ({"EXPIRATION_WINDOW_SECONDS": "60"}, 60),
        ({"EXPIRATION_WINDOW_SECONDS": " 45 "}, 45),
    ],
)
def test_the_expiration_window_comes_from_the_environment(
    env: dict[str, str], seconds: int
) -> None:
    assert expiration_window_from_env(env) == seconds


def test_make_dev_scales_out_as_asked(tmp_path: Path) -> None:
    """`NATS_NODES=3 REPLICAS=2 make dev`: three clustered NATS servers, two processes of every
    service on derived ports, each HTTP one an upstream server of nginx."""
    platform = Platform(Settings(data_dir=tmp_path, nats_nodes=3, replicas=2))

    assert [node.name for node in platform.nats_nodes] == ["nats-1", "nats-2", "nats-3"]
    assert [node.port for node in platform.nats_nodes] == [4222, 4223, 4224]
    assert "--routes" in platform.nats_nodes[1].argv
    assert list(platform.services) == [f"{s}-{n}" for s in SERVICES for n in (1, 2)]
    assert [p.port for p in platform.replicas("auth")] == [3001, 3101]
    orders = platform.service("orders-2")
    assert orders.env is not None
    assert orders.env["NATS_URL"] == ",".join(f"nats://127.0.0.1:{p}" for p in (4222, 4223, 4224))
    assert orders.env["NATS_CLIENT_ID"] == "orders-2"
    assert orders.env["NATS_STREAM_REPLICAS"] == "3"
    assert orders.log_path == tmp_path / "orders-2.log"
    used = platform.used_ports()
    assert len(used) == len(set(used)) == 4 + 2 * len(SERVICES) + 3 * 3
    assert [port for name, port in used if name == "nats_monitor"] == [8222, 8223, 8224]

    config = nginx_config(tmp_path, 8080, platform.ingress.service_ports, load_routes())
    assert "upstream auth { server 127.0.0.1:3001 max_fails=1 fail_timeout=5s; " in config
    assert "server 127.0.0.1:3101 max_fails=1 fail_timeout=5s; keepalive 8; }" in config


def test_make_dev_is_one_of_each_by_default(tmp_path: Path) -> None:
    platform = Platform(Settings(data_dir=tmp_path))

    assert [node.name for node in platform.nats_nodes] == ["nats"]
    assert "--routes" not in platform.nats.argv
    assert list(platform.services) == list(SERVICES)
    env = platform.service("orders").env
    assert env is not None
    assert env["NATS_URL"] == "nats://127.0.0.1:4222"
    assert "NATS_STREAM_REPLICAS" not in env
    assert platform.ingress.service_ports["auth"] == [3001]


def test_the_platform_uses_a_mongodb_it_is_given_instead_of_the_stand_in(tmp_path: Path) -> None:
    """`Settings.mongo_server` (the benchmark's `MONGO_URI`, e.g. MongoDB 7 in CI): no stand-in
    is started, and each service gets its own database there, the server's options kept."""
    server = "mongodb://db.example:27017/?replicaSet=rs0"
    platform = Platform(Settings(data_dir=tmp_path, mongo_server=server))

    assert platform.mongo is None
    assert "mongo" not in [component.name for component in platform.infrastructure]
    assert "mongo" not in [name for name, _ in platform.used_ports()]
    for name in ("auth", "tickets", "orders", "payments"):
        env = platform.service(name).env
        assert env is not None
        assert env["MONGO_URI"] == f"mongodb://db.example:27017/{name}?replicaSet=rs0"
    assert platform.mongo_server == server

    default = Platform(Settings(data_dir=tmp_path))
    assert default.mongo is not None
    assert default.mongo_uri("orders") == f"mongodb://127.0.0.1:{default.mongo.port}/orders"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("NATS_NODES", "2", "NATS_NODES must be 1 or 3 to 5"),
        ("NATS_NODES", "three", "NATS_NODES must be a number"),
        ("REPLICAS", "0", "REPLICAS must be 1 to 5"),
    ],
)
def test_make_dev_refuses_a_scale_it_cannot_run(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    env = {**os.environ, "DEVSTACK_DATA_DIR": str(tmp_path), variable: value}
    result = subprocess.run(
        [sys.executable, "-m", "devstack"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stdout
