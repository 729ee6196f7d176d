"""The whole platform as local processes, bound to 127.0.0.1: NATS (JetStream), the Mongo
stand-in, Redis, the Stripe stand-in, the six services (`python -m <service>`) and nginx as
the ingress. `make dev` runs it on fixed ports with its data in `.local/`; the end-to-end
tests run it on free ports in a temporary directory.

Scaled out (`Settings.nats_nodes`, `Settings.replicas`; `NATS_NODES=3 REPLICAS=2 make dev`):
NATS runs as a cluster of that many nodes (`nats-1` ...), the stream with up to 3 replicas,
and every service runs that many processes (`auth-1`, `auth-2`, ...), each HTTP one behind
nginx as one upstream server per process.

Start order: infrastructure, then the services (started together, then awaited on their
`/readyz`), then the ingress. `stop()` goes the other way: ingress, services, then the
infrastructure they were draining into, NATS last.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from auth.app import SERVICE as AUTH
from client.app import SERVICE as CLIENT
from common.service import ServiceSpec
from common.settings import MongoSettings, variables
from devstack.ingress import ROUTES_FILE, load_routes, write_nginx_config
from expiration.app import SERVICE as EXPIRATION
from orders.app import SERVICE as ORDERS
from payments.app import SERVICE as PAYMENTS
from testsupport.servers import (
    ManagedProcess,
    MongoStandIn,
    NatsCluster,
    NatsServer,
    PortServer,
    RedisServer,
    ServiceProcess,
    free_ports,
)
from tickets.app import SERVICE as TICKETS

REPO_ROOT = Path(__file__).resolve().parent.parent

SPECS: dict[str, ServiceSpec[Any, Any]] = {
    spec.name: spec
    for spec in (AUTH, TICKETS, ORDERS, PAYMENTS, EXPIRATION, CLIENT)  # start order
}
"""Every service as it describes itself (they start together; stop goes in reverse)."""

SERVICES = tuple(SPECS)

MONGO_SERVICES = tuple(n for n, spec in SPECS.items() if issubclass(spec.settings, MongoSettings))

SESSION_SERVICES = tuple(n for n, spec in SPECS.items() if spec.reads_sessions)
"""The services that read the session cookie (auth issues it): given SESSION_TTL_SECONDS."""

SERVICE_VARIABLES = frozenset().union(*(variables(spec.settings) for spec in SPECS.values()))
"""What the services read (their settings models): set by the platform for each service,
never inherited from the caller's environment (but for LOG_LEVEL, which is a choice of the
person running it)."""

DEFAULT_EXPIRATION_WINDOW_SECONDS = 900
"""The contract's reservation length (15 minutes)."""

REPLICA_PORT_STEP = 100
"""Replica n (from 1) of a service listens on the service's port + 100 * (n - 1)."""
MAX_NATS_NODES = 5
MAX_REPLICAS = 5
NATS_PORTS = ("nats", "nats_cluster", "nats_monitor")
"""The ports of each NATS node; node n (from 1) uses each of them + n - 1."""

DEV_JWT_KEY = "local-development-jwt-key"
DEV_STRIPE_KEY = "sk_test_local_development"


@dataclass
class Ports:
    """Where each component listens (always on 127.0.0.1).

    The fields are the ports of the first process of each component. Further ones are derived
    (replica n of a service: its port + 100 * (n - 1); NATS node n: each NATS port + n - 1)
    unless chosen one by one in `instances` (tests pick free ports that way).
    """

    ingress: int = 8080
    client: int = 3000
    auth: int = 3001
    tickets: int = 3002
    orders: int = 3003
    payments: int = 3004
    expiration: int = 3005
    nats: int = 4222
    nats_cluster: int = 6222
    """Route port of the first NATS node (only with more than one node)."""
    nats_monitor: int = 8222
    """Monitoring port of the first NATS node (only with more than one node)."""
    mongo: int = 27017
    redis: int = 6380  # not 6379: Debian's redis-server package runs a system Redis there
    stripe: int = 8420
    instances: dict[str, int] = field(default_factory=dict)
    """`<component>#<index>` -> port, for the processes beyond the first."""

    @staticmethod
    def names() -> list[str]:
        return [item.name for item in fields(Ports) if item.name != "instances"]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """Defaults, each overridable by `<NAME>_PORT` (`INGRESS_PORT`, `MONGO_PORT`, ...)."""
        ports = cls()
        for name in cls.names():
            value = env.get(f"{name.upper()}_PORT")
            if value:
                if not value.isdigit() or not 0 < int(value) < 65536:
                    raise ValueError(f"{name.upper()}_PORT must be a port number: {value!r}")
                setattr(ports, name, int(value))
        return ports

    @classmethod
    def free(cls, replicas: int = 1, nats_nodes: int = 1) -> Ports:
        """A distinct free port for every process of every component (tests)."""
        extra = [f"{name}#{i}" for name in SERVICES for i in range(1, replicas)]
        extra += [f"{name}#{i}" for name in NATS_PORTS for i in range(1, nats_nodes)]
        ordered = sorted(free_ports(len(cls.names()) + len(extra)))
        ports = cls()
        for name, port in zip(cls.names(), ordered, strict=False):
            setattr(ports, name, port)
        ports.instances = dict(zip(extra, ordered[len(cls.names()) :], strict=True))
        return ports

    def of(self, name: str, index: int = 0) -> int:
        """The port of process `index` (from 0) of component `name`."""
        if index and f"{name}#{index}" in self.instances:
            return self.instances[f"{name}#{index}"]
        step = 1 if name in NATS_PORTS else REPLICA_PORT_STEP
        return int(getattr(self, name)) + step * index

    def items(self) -> list[tuple[str, int]]:
        return [(name, getattr(self, name)) for name in self.names()]


def expiration_window_from_env(env: Mapping[str, str]) -> int:
    """The reservation length for orders: `EXPIRATION_WINDOW_SECONDS` from the caller's
    environment (a positive whole number of seconds), else the contract's default. The one
    contract variable `make dev` takes from its caller, so that expiry can be tried locally."""
    value = env.get("EXPIRATION_WINDOW_SECONDS", "").strip()
    if not value:
        return DEFAULT_EXPIRATION_WINDOW_SECONDS
    if not re.fullmatch(r"[0-9]+", value) or int(value) == 0:
        raise ValueError(
            f"EXPIRATION_WINDOW_SECONDS must be a positive whole number of seconds: {value!r}"
        )
    return int(value)


@dataclass
class Settings:
    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    expiration_window_seconds: int = DEFAULT_EXPIRATION_WINDOW_SECONDS
    session_ttl_seconds: int = 86400
    jwt_key: str = DEV_JWT_KEY
    stripe_key: str = DEV_STRIPE_KEY
    services: tuple[str, ...] = SERVICES
    ingress_host: str = "localhost"
    """How URLs printed for people name the ingress (it listens on 127.0.0.1)."""
    extra_env: dict[str, str] = field(default_factory=dict)
    """Laid over every service's environment (e.g. LOG_LEVEL)."""
    nats_nodes: int = 1
    """NATS servers: 1, or a cluster of 3 or more (the stream then has 3 replicas)."""
    replicas: int = 1
    """Processes of every service."""
    mongo_server: str | None = None
    """`mongodb://host:port[?options]` of a MongoDB to use instead of starting the embedded
    stand-in (e.g. real MongoDB 7 in CI); each service gets its own database on it, named
    after the service."""

    def __post_init__(self) -> None:
        if not (self.nats_nodes == 1 or 3 <= self.nats_nodes <= MAX_NATS_NODES):
            raise ValueError(
                f"NATS_NODES must be 1 or 3 to {MAX_NATS_NODES} "
                f"(a cluster of 2 cannot lose a node): {self.nats_nodes}"
            )
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise ValueError(f"REPLICAS must be 1 to {MAX_REPLICAS}: {self.replicas}")

    @property
    def stream_replicas(self) -> int:
        return min(3, self.nats_nodes)


class StartError(RuntimeError):
    """A component did not come up; `component` names it and `log_tail` shows why."""

    def __init__(self, component: str, reason: str, log_path: Path | None, log_tail: str) -> None:
        super().__init__(f"{component} failed to start: {reason}")
        self.component = component
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail


class PortsBusy(RuntimeError):
    def __init__(self, busy: list[tuple[str, int]]) -> None:
        names = ", ".join(f"{name} {port} ({name.upper()}_PORT)" for name, port in busy)
        super().__init__(f"ports already in use: {names}")
        self.busy = busy


class StripeStandIn(PortServer):
    """localstripe on loopback (see `devstack.stripe_standin`), its store in the data dir."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        python_path = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, python_path))}
        super().__init__(
            "stripe",
            [
                sys.executable,
                "-m",
                "devstack.stripe_standin",
                "--port",
                str(port),
                "--data-dir",
                str(workdir / "stripe"),
            ],
            workdir / "stripe.log",
            env,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Ingress(PortServer):
    """nginx in the foreground, its configuration, pid and temp files under `workdir/nginx`."""

    def __init__(self, workdir: Path, port: int, service_ports: dict[str, list[int]]) -> None:
        self.port = port
        self.prefix = workdir / "nginx"
        self.service_ports = service_ports
        super().__init__("nginx", [], workdir / "nginx.log")

    def start(self) -> None:
        self.argv = write_nginx_config(
            self.prefix, self.port, self.service_ports, load_routes(ROUTES_FILE)
        )
        super().start()


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


Progress = Callable[[str], None]


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data = settings.data_dir
        ports = settings.ports
        self.nats_cluster: NatsCluster | None = None
        if settings.nats_nodes > 1:
            indexes = range(settings.nats_nodes)
            self.nats_cluster = NatsCluster(
                data,
                settings.nats_nodes,
                ports=[ports.of("nats", i) for i in indexes],
                route_ports=[ports.of("nats_cluster", i) for i in indexes],
                monitor_ports=[ports.of("nats_monitor", i) for i in indexes],
            )
            self.nats_nodes = self.nats_cluster.nodes
        else:
            self.nats_nodes = [NatsServer(data, ports.nats)]
        self.nats = self.nats_nodes[0]
        """The first NATS server (the only one unless NATS runs as a cluster)."""
        self.mongo: MongoStandIn | None = (
            MongoStandIn(data, ports.mongo) if settings.mongo_server is None else None
        )
        """The embedded stand-in, unless `Settings.mongo_server` names a MongoDB to use."""
        self.redis = RedisServer(data, ports.redis)
        self.stripe = StripeStandIn(data, ports.stripe)
        inherited = {
            k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES or k == "LOG_LEVEL"
        }
        self.services: dict[str, ServiceProcess] = {}
        """Every service process by its name: the service's, or `<service>-<n>` for replicas."""
        for name in settings.services:
            for index in range(settings.replicas):
                instance = name if settings.replicas == 1 else f"{name}-{index + 1}"
                self.services[instance] = ServiceProcess(
                    name,
                    data,
                    self.service_env(name, instance),
                    ports.of(name, index),
                    base_env=inherited,
                    instance=instance,
                )
        self.ingress = Ingress(
            data,
            ports.ingress,
            {name: [ports.of(name, i) for i in range(settings.replicas)] for name in SERVICES},
        )
        for component in self.components:
            component.die_with_parent = True  # nothing outlives a killed runner or test run
        self.started: list[ManagedProcess] = []

    # -- what tests and the runner use ------------------------------------------------

    @property
    def url(self) -> str:
        """The ingress, as a browser reaches it."""
        return f"http://{self.settings.ingress_host}:{self.settings.ports.ingress}"

    def service(self, name: str) -> ServiceProcess:
        """A process by its name (`orders-2`), or the first process of a service (`orders`)."""
        return self.services.get(name) or self.replicas(name)[0]

    def replicas(self, service: str) -> list[ServiceProcess]:
        """Every process of `service`."""
        found = [process for process in self.services.values() if process.service == service]
        if not found:
            raise KeyError(service)
        return found

    def nats_node(self, name: str) -> NatsServer:
        return next(node for node in self.nats_nodes if node.name == name)

    @property
    def nats_url(self) -> str:
        """`NATS_URL` as the services get it: every NATS server, comma-separated."""
        return ",".join(node.url for node in self.nats_nodes)

    @property
    def mongo_server(self) -> str:
        """`mongodb://host:port[?options]` of the MongoDB the services use."""
        return self.mongo.url if self.mongo is not None else str(self.settings.mongo_server)

    def mongo_uri(self, database: str) -> str:
        """The URI of `database` on the platform's MongoDB (its options kept)."""
        server, _, options = self.mongo_server.partition("?")
        return f"{server.rstrip('/')}/{database}" + (f"?{options}" if options else "")

    @property
    def infrastructure(self) -> list[ManagedProcess]:
        mongo = [self.mongo] if self.mongo is not None else []
        return [*self.nats_nodes, *mongo, self.redis, self.stripe]

    @property
    def components(self) -> list[ManagedProcess]:
        return [*self.infrastructure, *self.services.values(), self.ingress]

    def component_url(self, component: ManagedProcess) -> str:
        if component is self.ingress:
            return self.url
        if isinstance(component, ServiceProcess):
            return component.base_url
        if isinstance(component, NatsServer | MongoStandIn | RedisServer | StripeStandIn):
            return component.url
        return f"127.0.0.1:{getattr(component, 'port', '?')}"

    def service_env(self, name: str, instance: str | None = None) -> dict[str, str]:
        """The contract's variables (section 2) for one process of a service."""
        s = self.settings
        env = {
            "JWT_KEY": s.jwt_key,
            "NATS_URL": self.nats_url,
            "NATS_CLIENT_ID": instance or name,
            # Readable lines here; JSON (the default) in production. LOG_FORMAT=json to see it.
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "console"),
        }
        if s.nats_nodes > 1:
            env["NATS_STREAM_REPLICAS"] = str(s.stream_replicas)
        if name in MONGO_SERVICES:
            env["MONGO_URI"] = self.mongo_uri(name)
        if name in SESSION_SERVICES:
            env["SESSION_TTL_SECONDS"] = str(s.session_ttl_seconds)
        if name == "auth":
            env["COOKIE_SECURE"] = "false"
        if name == "orders":
            env["EXPIRATION_WINDOW_SECONDS"] = str(s.expiration_window_seconds)
        if name == "expiration":
            env["REDIS_URL"] = self.redis.url
        if name == "payments":
            env["STRIPE_KEY"] = s.stripe_key
            env["STRIPE_API_BASE"] = self.stripe.url
        if name == "client":
            env["API_BASE_URL"] = f"http://127.0.0.1:{s.ports.ingress}"
        return {**env, **s.extra_env}

    # -- lifecycle -----------------------------------------------------------------------

    def used_ports(self) -> list[tuple[str, int]]:
        """Every port the platform listens on, named as its `<NAME>_PORT` variable."""
        ports = self.settings.ports
        own = ["ingress", "redis", "stripe"] + (["mongo"] if self.mongo is not None else [])
        used = [(name, ports.of(name)) for name in own]
        for name in SERVICES:
            used += [(name, ports.of(name, i)) for i in range(self.settings.replicas)]
        nats = NATS_PORTS if self.settings.nats_nodes > 1 else ("nats",)
        for name in nats:
            used += [(name, ports.of(name, i)) for i in range(self.settings.nats_nodes)]
        return used

    def check_ports(self) -> None:
        busy = [(name, port) for name, port in self.used_ports() if port_in_use(port)]
        if busy:
            raise PortsBusy(busy)

    def start(self, progress: Progress | None = None, ready_timeout: float = 60.0) -> None:
        """Start everything and wait until it is ready; on failure stop what started."""
        say = progress or (lambda _: None)
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        for component in self.components:  # the last run's logs stay, one run back
            if component.log_path.exists():
                component.log_path.replace(
                    component.log_path.with_name(f"{component.log_path.stem}.previous.log")
                )
        try:
            for component in self.infrastructure:
                say(f"starting {component.name}")
                self._start(component, component.start)
            if self.nats_cluster is not None:
                say("waiting for the NATS cluster to elect its JetStream leader")
                self._start(self.nats, partial(self.nats_cluster.wait_healthy, ready_timeout))
            say(f"starting {', '.join(self.services)}")
            for service in self.services.values():
                self._start(service, partial(service.start, wait_ready=False))
            self.wait_services_ready(ready_timeout)
            say("starting the ingress (nginx)")
            self._start(self.ingress, self.ingress.start)
            self.wait_ingress_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, component: ManagedProcess, start: Callable[[], None]) -> None:
        self.started.append(component)
        try:
            start()
        except (RuntimeError, TimeoutError, OSError, ValueError) as error:
            raise self._failure(component, str(error).splitlines()[0]) from error

    def _failure(self, component: ManagedProcess, reason: str) -> StartError:
        return StartError(component.name, reason, component.log_path, component.log_tail(30))

    def wait_services_ready(self, timeout: float = 60.0, names: list[str] | None = None) -> None:
        """Wait until every (named) service answers 200 on `/readyz`."""
        waiting = [self.services[n] for n in (names or list(self.services))]
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2) as http:
            while waiting:
                for service in list(waiting):
                    if not service.running:
                        code = service.process.returncode if service.process else None
                        raise self._failure(service, f"exited with code {code}")
                    try:
                        if http.get(f"{service.base_url}/readyz").status_code == 200:
                            waiting.remove(service)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    raise self._failure(waiting[0], f"/readyz not 200 after {timeout:.0f}s")
                if waiting:
                    time.sleep(0.2)

    def wait_ingress_ready(self, timeout: float = 30.0) -> None:
        """The ingress answers and reaches auth (a route that needs no sign-in)."""
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.settings.ports.ingress}/api/users/currentuser"
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200 or "auth" not in self.services:
                    return
            except httpx.HTTPError:
                pass
            if not self.ingress.running:
                raise self._failure(self.ingress, "nginx exited")
            if time.monotonic() > deadline:
                raise self._failure(self.ingress, f"{url} not 200 after {timeout:.0f}s")
            time.sleep(0.2)

    def status(self) -> dict[str, str]:
        """`ready`, `not ready` or `stopped` for each component."""
        result = {}
        with httpx.Client(timeout=2) as http:
            for component in self.components:
                if not component.running:
                    result[component.name] = "stopped"
                elif isinstance(component, ServiceProcess):
                    try:
                        ok = http.get(f"{component.base_url}/readyz").status_code == 200
                    except httpx.HTTPError:
                        ok = False
                    result[component.name] = "ready" if ok else "not ready"
                else:
                    result[component.name] = "ready"
        return result

    def stop(self) -> None:
        """Stop what was started: the ingress, the services together, then infrastructure."""
        started = set(map(id, self.started))
        if id(self.ingress) in started:
            self.ingress.stop()
        services = [s for s in self.services.values() if id(s) in started]
        if services:
            with ThreadPoolExecutor(len(services)) as pool:
                list(pool.map(lambda s: s.stop(), reversed(services)))
        for component in reversed(self.infrastructure):
            if id(component) in started:
                component.stop()
        self.started.clear()
