from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from common.events.stream import connect_nats, ensure_stream
from testsupport.servers import NatsServer


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of this test's own, so streams and consumers start empty."""
    server = NatsServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def jetstream(nats_server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    nc = await connect_nats(nats_server.url, "common-tests")
    js = nc.jetstream()
    await ensure_stream(js)
    yield nc, js
    await nc.close()
