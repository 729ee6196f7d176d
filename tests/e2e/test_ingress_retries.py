"""The local ingress (nginx) with several processes per service: a process that refuses the
connection, or dies with a request in hand, costs the client nothing - nginx sends the request
to the next process, POSTs included, with the same X-Request-ID (which the services use to
recognise a repeat: `common.idempotency`)."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from devstack.platform import SERVICES, Ingress
from testsupport.servers import free_port

pytestmark = pytest.mark.integration


class Answering(ThreadingHTTPServer):
    """A healthy process: answers 201 with the method and the X-Request-ID it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                request_id = self.headers.get("X-Request-ID", "")
                server.seen.append((self.command, request_id))
                body = json.dumps({"method": self.command, "requestId": request_id}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = answer  # noqa: N815  # http.server names

            def log_message(self, format: str, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


class Dying(socketserver.ThreadingTCPServer):
    """A process killed with the request in hand: reads it whole, then the connection drops."""

    daemon_threads = True

    def __init__(self) -> None:
        self.seen: list[str] = []
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head = data.split(b"\r\n\r\n")[0].decode()
                headers = dict(
                    line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line
                )
                server.seen.append(headers.get("X-Request-ID", ""))
                self.request.shutdown(socket.SHUT_RDWR)

        super().__init__(("127.0.0.1", 0), Handler)


def serve(server: socketserver.BaseServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def upstreams() -> Iterator[tuple[Answering, Dying, int]]:
    """A healthy process, a dying one, and a port nothing listens on (a process that is gone)."""
    answering, dying = Answering(), Dying()
    for server in (answering, dying):
        serve(server)
    yield answering, dying, free_port()
    for server in (answering, dying):
        server.shutdown()
        server.server_close()


def start_ingress(tmp_path: Path, ports: dict[str, list[int]]) -> Ingress:
    ingress = Ingress(tmp_path, free_port(), ports)
    ingress.start()
    return ingress


def test_a_post_whose_process_dies_or_is_gone_goes_to_another_with_its_request_id(
    tmp_path: Path, upstreams: tuple[Answering, Dying, int]
) -> None:
    answering, dying, gone = upstreams
    healthy = answering.server_address[1]
    ports = {service: [healthy] for service in SERVICES}
    ports["tickets"] = [dying.server_address[1], gone, healthy]
    ingress = start_ingress(tmp_path, ports)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ingress.port}") as http:
            answers = [
                http.post("/api/tickets", json={"title": "concert", "price": 10}) for _ in range(6)
            ]
            caller_id = http.post(
                "/api/tickets", json={}, headers={"X-Request-ID": "caller-chosen-0001"}
            )
    finally:
        ingress.stop()

    assert [answer.status_code for answer in answers] == [201] * 6
    assert caller_id.status_code == 201
    assert caller_id.json()["requestId"] == "caller-chosen-0001"
    # The dying process got requests (nginx tried it), and each of them was answered by the
    # healthy one under the same request id: the retry, not a new request.
    assert dying.seen, "nginx never sent a request to the dying process"
    answered_ids = {request_id for method, request_id in answering.seen if method == "POST"}
    assert set(dying.seen) <= answered_ids
    assert all(len(request_id) >= 8 for request_id in answered_ids)


def test_when_every_process_is_gone_the_answer_is_a_502(tmp_path: Path) -> None:
    ports = {service: [free_port(), free_port()] for service in SERVICES}
    ingress = start_ingress(tmp_path, ports)
    try:
        response = httpx.post(
            f"http://127.0.0.1:{ingress.port}/api/orders", json={"ticketId": "x"}, timeout=10
        )
    finally:
        ingress.stop()
    assert response.status_code == 502
