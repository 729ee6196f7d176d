"""Real components as processes on free loopback ports: NATS (JetStream, alone or as a
cluster), the Mongo stand-in, Redis, and our own services. Used by the test fixtures and the
end-to-end harness."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (held together while chosen, so none is chosen twice)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_for_port(
    port: int, timeout: float = 20.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"process exited with {process.returncode} before port {port} opened"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def _tool(name: str) -> str:
    """A console script of this environment (next to the running interpreter), or from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed; run `make install`")
    return found


def _terminate_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM it when the process that started it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class ManagedProcess:
    """A child process with its output in a log file; stopped with SIGTERM, then SIGKILL."""

    die_with_parent: bool = False
    """Set to have the child terminated even if its parent is killed outright (Linux only)."""

    def __init__(
        self, name: str, argv: list[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        on_linux = sys.platform.startswith("linux")
        self.process = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
            preexec_fn=_terminate_with_parent if self.die_with_parent and on_linux else None,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): its connections stay open but nothing answers."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


class PortServer(ManagedProcess):
    """A managed process that serves on `self.port`: `start()` returns once it accepts
    connections (or raises if the process exits first)."""

    port: int

    def start(self) -> None:
        super().start()
        wait_for_port(self.port, process=self.process)


class NatsServer(PortServer):
    """nats-server with JetStream; its store survives `stop()` / `start()` on the same port.

    Alone by default; given `routes` (a `NatsCluster` does that), one node of a cluster.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        name: str = "nats",
        cluster_name: str | None = None,
        route_port: int | None = None,
        routes: list[int] | None = None,
        monitor_port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.monitor_port = monitor_port
        store = workdir / ("jetstream" if name == "nats" else f"jetstream-{name}")
        argv = [_tool("nats-server"), "-js", "-a", "127.0.0.1", "-p", str(self.port)]
        argv += ["-sd", str(store)]
        if routes is not None:
            argv += ["--server_name", name]
            if not cluster_name or not route_port:
                raise ValueError("a cluster node needs its cluster's name and its route port")
            argv += ["--cluster_name", cluster_name]
            argv += ["--cluster", f"nats://127.0.0.1:{route_port}"]
            argv += ["--routes", ",".join(f"nats://127.0.0.1:{port}" for port in routes)]
        if monitor_port is not None:
            argv += ["-m", str(monitor_port)]
        super().__init__(name, argv, workdir / f"{name}.log")

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def healthy(self) -> bool:
        """JetStream answers on this node (in a cluster: it knows the meta leader). Needs the
        monitoring port."""
        if self.monitor_port is None or not self.running:
            return self.running
        try:
            response = httpx.get(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def stream_leader(self, stream: str) -> str | None:
        """The name of the server leading `stream` as this node sees it (None while the
        stream elects a leader, or if this node cannot say). Needs the monitoring port."""
        if self.monitor_port is None or not self.running:
            return None
        try:
            response = httpx.get(
                f"http://127.0.0.1:{self.monitor_port}/jsz", params={"streams": "true"}, timeout=1
            )
            accounts = response.json().get("account_details") or []
        except (httpx.HTTPError, ValueError):
            return None
        for account in accounts:
            for detail in account.get("stream_detail") or []:
                if detail.get("name") == stream:
                    leader = (detail.get("cluster") or {}).get("leader")
                    return str(leader) if leader else None
        return None


class NatsCluster:
    """`size` clustered nats-servers with JetStream (`nats-1` ...), each with its own store,
    route and monitoring port: a stream of 3 replicas survives the loss of any one of them."""

    def __init__(
        self,
        workdir: Path,
        size: int = 3,
        *,
        ports: list[int] | None = None,
        route_ports: list[int] | None = None,
        monitor_ports: list[int] | None = None,
        cluster_name: str = "ticketing",
    ) -> None:
        if ports is None or route_ports is None or monitor_ports is None:
            chosen = free_ports(3 * size)
            ports, route_ports, monitor_ports = (
                chosen[:size],
                chosen[size : 2 * size],
                chosen[2 * size :],
            )
        self.nodes = [
            NatsServer(
                workdir,
                ports[index],
                name=f"nats-{index + 1}",
                cluster_name=cluster_name,
                route_port=route_ports[index],
                routes=[port for other, port in enumerate(route_ports) if other != index],
                monitor_port=monitor_ports[index],
            )
            for index in range(size)
        ]

    @property
    def url(self) -> str:
        """Every node, comma-separated (the NATS convention for a list of servers)."""
        return ",".join(node.url for node in self.nodes)

    def node(self, name: str) -> NatsServer:
        return next(node for node in self.nodes if node.name == name)

    def start(self, timeout: float = 30.0) -> None:
        """Start every node and wait for the cluster; if any fails, stop those started."""
        try:
            for node in self.nodes:
                node.start()
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until every running node serves JetStream (the cluster has a meta leader)."""
        deadline = time.monotonic() + timeout
        while not all(node.healthy() for node in self.nodes if node.running):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the NATS cluster is not healthy after {timeout}s")
            time.sleep(0.1)

    def stream_leader(self, stream: str) -> str | None:
        """The server leading `stream`, as the running nodes agree (None if they do not)."""
        seen = {node.stream_leader(stream) for node in self.nodes if node.running}
        return seen.pop() if len(seen) == 1 else None

    def stop(self) -> None:
        for node in reversed(self.nodes):
            node.stop()


class MongoStandIn(PortServer):
    """The embedded MongoDB wire-protocol server (nx-27017), one SQLite file per database."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        data = workdir / "mongo"
        data.mkdir(parents=True, exist_ok=True)
        super().__init__(
            "mongo",
            [
                _tool("nx-27017"),
                "--data-dir",
                str(data),
                "--host",
                "127.0.0.1",
                "-p",
                str(self.port),
                "--log-file",
                str(workdir / "mongo-server.log"),
                "--pid-file",
                str(workdir / "mongo.pid"),
            ],
            workdir / "mongo.log",
        )

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"


@contextmanager
def mongo_stand_in_of_its_own(workdir: Path) -> Iterator[MongoStandIn]:
    """A Mongo stand-in for one test, to kill or pause: woken (if paused) and stopped at the
    end. Its data dir survives a restart on the same port."""
    server = MongoStandIn(workdir)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.running:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


class RedisServer(PortServer):
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        data = workdir / "redis"
        data.mkdir(parents=True, exist_ok=True)
        super().__init__(
            "redis",
            [
                _tool("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(data),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            workdir / "redis.log",
        )

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class UrlServer(Protocol):
    """A server process that `server_url` can start and stop (NATS, Mongo, Redis)."""

    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


@contextmanager
def server_url(variable: str, make: Callable[[], UrlServer]) -> Iterator[str]:
    """The URL in the environment variable `variable` when it is set (CI points it at its own
    server); else the URL of the server `make()` builds, started until the block ends."""
    if os.environ.get(variable):
        yield os.environ[variable]
        return
    server = make()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


class ServiceProcess(ManagedProcess):
    """One of our services, started as in production: `python -m <service>`."""

    def __init__(
        self,
        service: str,
        workdir: Path,
        env: Mapping[str, str],
        port: int | None = None,
        base_env: Mapping[str, str] | None = None,
        instance: str | None = None,
    ) -> None:
        """`env` is laid over `base_env` (default: this process's environment). `instance`
        names one of several replicas (its log file too); by default, the service's name."""
        self.port = port or free_port()
        self.service = service
        name = instance or service
        inherited = os.environ if base_env is None else base_env
        full_env = {**inherited, **env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        super().__init__(name, [sys.executable, "-m", service], workdir / f"{name}.log", full_env)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True, timeout: float = 30.0) -> None:
        super().start()
        if wait_ready:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.log_tail()}")


def eventually(check: Callable[[], object], timeout: float = 15.0, interval: float = 0.1) -> None:
    """Poll `check()` until it returns truthy without raising; re-raise the last failure."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
            last = None
        except AssertionError as error:
            last = error
        time.sleep(interval)
    if last is not None:
        raise last
    raise AssertionError(f"condition not met within {timeout}s")


async def wait_until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Await until `condition()` is true, or fail the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)
