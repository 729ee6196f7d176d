"""What the benchmark runs against: the whole platform as `make dev` runs it (the services as
processes behind nginx, the embedded Mongo stand-in, NATS, Redis), and beside it the HTTP
ceiling: `benchmarks.bare` behind a second nginx rendered from the same configuration, every
route of which leads to the bare app. Both start on free ports in a temporary directory.

With `MONGO_URI` set (as the tests take it), the platform uses that MongoDB instead of the
stand-in: a server of the benchmark's own (it writes the services' databases), e.g. MongoDB 7
in the GitHub Actions job that measures the figures the stand-in limits."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from pymongo import MongoClient

from common.session import COOKIE_NAME
from devstack.platform import REPO_ROOT, SERVICES, Ingress, Platform, Ports, Settings
from testsupport.servers import PortServer, free_port

JWT_KEY = "bench-jwt-key"
PASSWORD = "bench-password"


class BareApp(PortServer):
    """`python -m benchmarks.bare` on `port`."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.port = port
        python_path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
        env = {
            **os.environ,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "PYTHONPATH": python_path,
        }
        super().__init__(
            "bare", [sys.executable, "-m", "benchmarks.bare"], workdir / "bare.log", env
        )


def mongo_server_from_env() -> str | None:
    """The server `MONGO_URI` names (its database dropped, its options kept), or None."""
    uri = os.environ.get("MONGO_URI")
    if not uri:
        return None
    address, _, options = uri.partition("?")
    scheme, _, rest = address.partition("://")
    server = f"{scheme}://{rest.split('/')[0]}/"
    return f"{server}?{options}" if options else server


class Stack:
    def __init__(self, workdir: Path) -> None:
        self.platform = Platform(
            Settings(
                data_dir=workdir,
                ports=Ports.free(),
                jwt_key=JWT_KEY,
                mongo_server=mongo_server_from_env(),
            )
        )
        self.bare = BareApp(workdir, free_port())
        self.bare_ingress = Ingress(
            workdir / "bare-ingress", free_port(), {name: [self.bare.port] for name in SERVICES}
        )
        for process in (self.bare, self.bare_ingress):
            process.die_with_parent = True
        self.mongo: MongoClient[dict[str, object]] | None = None

    @property
    def url(self) -> str:
        """The platform's ingress."""
        return f"http://127.0.0.1:{self.platform.settings.ports.ingress}"

    @property
    def bare_url(self) -> str:
        """The ceiling's ingress."""
        return f"http://127.0.0.1:{self.bare_ingress.port}"

    @property
    def mongo_url(self) -> str:
        return self.platform.mongo_server

    def start(self) -> None:
        self.platform.start()
        self.bare.start()
        self.bare_ingress.start()
        self.mongo = MongoClient(self.mongo_url, serverSelectionTimeoutMS=5000)

    def stop(self) -> None:
        if self.mongo is not None:
            self.mongo.close()
        self.bare_ingress.stop()
        self.bare.stop()
        self.platform.stop()

    def sign_up(self, email: str | None = None) -> tuple[str, str]:
        """A new user through the API: (email, session cookie header value)."""
        email = email or f"bench-{uuid.uuid4().hex[:12]}@example.com"
        response = httpx.post(
            f"{self.url}/api/users/signup",
            json={"email": email, "password": PASSWORD},
            timeout=30,
        )
        if response.status_code != 201:
            raise RuntimeError(f"sign-up failed: {response.status_code} {response.text}")
        return email, f"{COOKIE_NAME}={response.cookies[COOKIE_NAME]}"


@contextmanager
def running(workdir: Path) -> Iterator[Stack]:
    stack = Stack(workdir)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
