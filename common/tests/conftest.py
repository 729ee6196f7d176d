from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from common.events.stream import connect_nats, ensure_stream
from testsupport.servers import NatsServer


@pytest.fixture
async def jetstream(nats_server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    nc = await connect_nats(nats_server.url, "common-tests")
    js = nc.jetstream()
    await ensure_stream(js)
    yield nc, js
    await nc.close()
