"""The stream's configuration, owned by `ensure_stream`: created with the deployment's replicas
and limits, idempotent, never rewritten backwards by older code, changed by newer code or new
settings; and `NATS_URL` as a list of servers."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from common.events.stream import (
    STREAM_CONFIG_VERSION,
    STREAM_NAME,
    VERSION_KEY,
    StreamConfigurationError,
    StreamSettings,
    connect_nats,
    ensure_stream,
    nats_servers,
    stream_config,
)
from common.events.subjects import Subjects
from common.settings import load_settings
from testsupport.servers import NatsCluster, NatsServer, free_port

MiB = 1024**2


async def wait_until_async(
    read: Callable[[], Awaitable[set[str]]], expected: set[str], within: float
) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (found := await read()) != expected:
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.2)


def settings(replicas: int = 1, max_age: int = 3600, max_bytes: int = 64 * MiB) -> StreamSettings:
    return StreamSettings(
        NATS_STREAM_REPLICAS=replicas,
        NATS_STREAM_MAX_AGE_SECONDS=max_age,
        NATS_STREAM_MAX_BYTES=max_bytes,
    )


@pytest.fixture
async def bare(nats_server: NatsServer) -> AsyncIterator[tuple[NatsClient, JetStreamContext]]:
    """A connection to a server that has no stream yet."""
    nc = await connect_nats(nats_server.url, "stream-tests")
    yield nc, nc.jetstream()
    await nc.close()


def test_nats_url_may_list_several_servers() -> None:
    assert nats_servers("nats://a:4222") == ["nats://a:4222"]
    assert nats_servers("nats://a:4222, nats://b:4222,nats://u:p@c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://u:p@c:4222",
    ]
    with pytest.raises(ValueError, match="no server"):
        nats_servers(" , ")


async def test_a_client_reaches_whichever_server_of_the_list_is_up(
    nats_server: NatsServer,
) -> None:
    nobody = f"nats://127.0.0.1:{free_port()}"
    nc = await connect_nats(f"{nobody},{nats_server.url}", "list-test")
    try:
        assert nc.is_connected
        assert nc.connected_url is not None
        assert nc.connected_url.port == nats_server.port
    finally:
        await nc.close()


async def test_the_stream_is_created_with_the_deployments_replicas_and_limits(
    bare: tuple[NatsClient, JetStreamContext],
) -> None:
    _, js = bare
    info = await ensure_stream(js, settings(max_age=7200, max_bytes=32 * MiB))

    config = (await js.stream_info(STREAM_NAME)).config
    assert info.config.name == STREAM_NAME
    assert sorted(config.subjects or []) == sorted(s.value for s in Subjects)
    assert (config.num_replicas, config.max_age, config.max_bytes) == (1, 7200.0, 32 * MiB)
    assert config.duplicate_window == 600.0
    assert (config.metadata or {})[VERSION_KEY] == str(STREAM_CONFIG_VERSION)


async def test_ensuring_it_again_changes_nothing(bare: tuple[NatsClient, JetStreamContext]) -> None:
    _, js = bare
    await ensure_stream(js, settings())
    before = await js.stream_info(STREAM_NAME)
    await ensure_stream(js, settings())
    after = await js.stream_info(STREAM_NAME)
    assert after.config == before.config
    assert after.created == before.created


async def test_a_stream_left_by_older_code_is_brought_up_to_date(
    bare: tuple[NatsClient, JetStreamContext],
) -> None:
    """The stream as the code before versions made it: no limits, no version."""
    _, js = bare
    old = stream_config(settings())
    old.max_age, old.max_bytes, old.metadata = None, None, None
    await js.add_stream(config=old)

    await ensure_stream(js, settings(max_age=1800))

    config = (await js.stream_info(STREAM_NAME)).config
    assert (config.max_age, config.max_bytes) == (1800.0, 64 * MiB)
    assert (config.metadata or {})[VERSION_KEY] == str(STREAM_CONFIG_VERSION)


async def test_new_settings_at_the_same_version_are_applied(
    bare: tuple[NatsClient, JetStreamContext],
) -> None:
    _, js = bare
    await ensure_stream(js, settings(max_bytes=64 * MiB))
    await ensure_stream(js, settings(max_bytes=128 * MiB))
    assert (await js.stream_info(STREAM_NAME)).config.max_bytes == 128 * MiB


async def test_a_stream_configured_by_newer_code_is_left_alone(
    bare: tuple[NatsClient, JetStreamContext],
) -> None:
    """An old pod restarting during a rolling update must not rewrite the stream backwards."""
    _, js = bare
    newer = stream_config(settings(max_age=9000))
    newer.metadata = {VERSION_KEY: str(STREAM_CONFIG_VERSION + 1)}
    newer.subjects = [*(newer.subjects or []), "ticket:archived"]
    await js.add_stream(config=newer)

    await ensure_stream(js, settings(max_age=3600))

    config = (await js.stream_info(STREAM_NAME)).config
    assert "ticket:archived" in (config.subjects or [])
    assert config.max_age == 9000.0
    assert (config.metadata or {})[VERSION_KEY] == str(STREAM_CONFIG_VERSION + 1)


async def test_more_replicas_than_servers_is_a_clear_error(
    bare: tuple[NatsClient, JetStreamContext],
) -> None:
    _, js = bare
    with pytest.raises(StreamConfigurationError, match=STREAM_NAME):
        await ensure_stream(js, settings(replicas=3), patience=3)


def test_bad_stream_settings_stop_the_process_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_STREAM_REPLICAS", "0")
    with pytest.raises(SystemExit, match="NATS_STREAM_REPLICAS"):
        load_settings(StreamSettings)


def test_the_code_owned_shape_matches_its_version() -> None:
    """Change anything here and raise STREAM_CONFIG_VERSION with it: streams already created
    are only brought to a new shape by a newer version (see common.events.stream)."""
    shape = stream_config(settings()).as_dict()
    for chosen_by_the_deployment in ("num_replicas", "max_age", "max_bytes"):
        shape.pop(chosen_by_the_deployment)
    assert STREAM_CONFIG_VERSION == 2
    assert {key: shape[key] for key in sorted(shape) if shape[key] not in (None, False)} == {
        "description": "Every event of the ticketing platform",
        "discard": "old",
        "duplicate_window": 600_000_000_000,
        "max_msg_size": -1,
        "max_msgs_per_subject": -1,
        "metadata": {VERSION_KEY: "2"},
        "name": STREAM_NAME,
        "retention": "limits",
        "storage": "file",
        "subjects": [s.value for s in Subjects],
    }


async def test_replicas_are_raised_on_a_running_cluster(tmp_path: Path) -> None:
    """A stream created with one replica gets three once the setting says so."""
    cluster = NatsCluster(tmp_path, 3)
    cluster.start()
    try:
        nc = await connect_nats(cluster.url, "replicas-test")
        try:
            js = nc.jetstream()
            await ensure_stream(js, settings(replicas=1))
            await ensure_stream(js, settings(replicas=3))
            assert (await js.stream_info(STREAM_NAME)).config.num_replicas == 3

            async def current_copies() -> set[str]:
                """The servers holding a current copy: the leader and its replicas."""
                info = (await js.stream_info(STREAM_NAME)).cluster
                assert info is not None
                names = {peer.name for peer in info.replicas or [] if peer.current and peer.name}
                return names | ({info.leader} if info.leader else set())

            await wait_until_async(current_copies, {"nats-1", "nats-2", "nats-3"}, within=20)
        finally:
            await nc.close()
    finally:
        cluster.stop()
