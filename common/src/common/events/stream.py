"""The NATS connection and the one JetStream stream that holds every subject.

The stream's configuration is owned here and nowhere else: `stream_config` says what it is,
and `ensure_stream` (called by every service at start-up) makes the server agree. Because
every replica of every service calls it, it is idempotent and never goes backwards:

- `STREAM_CONFIG_VERSION` numbers the shape the code gives the stream (subjects, storage,
  retention, duplicate window). It is written into the stream's metadata. A process whose
  code is older than the stored version - an old pod restarted in the middle of a rolling
  update - leaves the stream alone; a newer one brings it up to date.
- What a deployment chooses - replicas and retention limits (`NATS_STREAM_*`) - comes from
  the environment every service shares (one ConfigMap in Kubernetes, `devstack` locally).
  At the same code version a differing choice is applied, so changing the shared values and
  restarting the services changes the stream (JetStream accepts a new replica count and new
  limits on a running stream).
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum

import nats
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig, StreamInfo
from nats.js.errors import APIError, BadRequestError, NotFoundError

from common.events.subjects import Subjects
from common.settings import StreamSettings, load_settings

logger = logging.getLogger(__name__)

STREAM_NAME = "TICKETING"
DUPLICATE_WINDOW_SECONDS = 600.0
"""How long JetStream remembers a `Nats-Msg-Id`: a repeated publish within it is dropped."""

STREAM_CONFIG_VERSION = 2
"""The version of the stream's shape as this code defines it (see the module docstring).
Raise it whenever `stream_config` changes anything but the deployment's choices."""
VERSION_KEY = "ticketing.config-version"
"""The stream metadata entry that holds the version of the code that configured it."""

PING_INTERVAL_SECONDS = 2
"""How often a client pings its server. Two unanswered pings and the connection counts as
dead, so a server that vanishes without closing its connections (a lost node) is left for
another one of the list within about 4-6 s (the default would take minutes)."""
RECONNECT_WAIT_SECONDS = 0.5
"""Pause before trying a server of the list again; a different server is tried at once."""


def stream_config(settings: StreamSettings) -> StreamConfig:
    return StreamConfig(
        name=STREAM_NAME,
        description="Every event of the ticketing platform",
        subjects=[subject.value for subject in Subjects],
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        num_replicas=settings.NATS_STREAM_REPLICAS,
        max_age=float(settings.NATS_STREAM_MAX_AGE_SECONDS),
        max_bytes=settings.NATS_STREAM_MAX_BYTES,
        metadata={VERSION_KEY: str(STREAM_CONFIG_VERSION)},
    )


def configured_version(config: StreamConfig) -> int:
    """The `STREAM_CONFIG_VERSION` that configured a stream (0: none, or an older code)."""
    try:
        return int((config.metadata or {}).get(VERSION_KEY, "0"))
    except ValueError:
        return 0


def deployment_choices(config: StreamConfig) -> tuple[int, float, int]:
    return (config.num_replicas or 1, float(config.max_age or 0), config.max_bytes or -1)


class StreamChange(Enum):
    NONE = "up to date"
    UPDATE = "updated"
    NEWER = "configured by a newer version; left alone"


def change_needed(current: StreamConfig, wanted: StreamConfig) -> StreamChange:
    """What `ensure_stream` does to a stream configured as `current`."""
    stored, ours = configured_version(current), configured_version(wanted)
    if stored > ours:
        return StreamChange.NEWER
    if stored < ours or deployment_choices(current) != deployment_choices(wanted):
        return StreamChange.UPDATE
    return StreamChange.NONE


class StreamConfigurationError(RuntimeError):
    """JetStream refused the stream's configuration (e.g. more replicas than servers)."""


TRANSIENT_API_CODES = frozenset({10008})
"""JetStream's "temporarily unavailable" (no meta leader yet, e.g. while a cluster forms)."""


async def ensure_stream(
    js: JetStreamContext, settings: StreamSettings | None = None, *, patience: float = 60.0
) -> StreamInfo:
    """Create the stream, or bring it to this code's configuration (never backwards).

    `settings` default to the environment's (a bad value stops the process with one line).
    While the JetStream cluster has no leader yet (it is forming, or electing one), this waits
    up to `patience` seconds before giving up.
    """
    wanted = stream_config(settings or load_settings(StreamSettings))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            return await _ensure(js, wanted)
        except StreamConfigurationError:
            raise
        except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as error:
            reason: Exception = error
        except APIError as error:
            if error.err_code not in TRANSIENT_API_CODES and error.code != 503:
                raise StreamConfigurationError(f"stream {STREAM_NAME}: {error}") from error
            reason = error
        if loop.time() > deadline:
            raise StreamConfigurationError(f"stream {STREAM_NAME}: JetStream unavailable: {reason}")
        logger.warning("JetStream not available yet (%s); retrying", reason)
        await asyncio.sleep(0.5)


async def _ensure(js: JetStreamContext, wanted: StreamConfig) -> StreamInfo:
    try:
        info = await js.stream_info(STREAM_NAME)
    except NotFoundError:
        try:
            created = await js.add_stream(config=wanted)
        except BadRequestError as error:
            if error.err_code != 10058:  # 10058: created meanwhile by another process
                raise StreamConfigurationError(f"stream {STREAM_NAME}: {error}") from error
            info = await js.stream_info(STREAM_NAME)
        else:
            logger.info("stream %s created (%d replicas)", STREAM_NAME, wanted.num_replicas)
            return created
    change = change_needed(info.config, wanted)
    if change is StreamChange.UPDATE:
        try:
            info = await js.update_stream(config=wanted)
        except BadRequestError as error:
            raise StreamConfigurationError(f"stream {STREAM_NAME}: {error}") from error
    if change is not StreamChange.NONE:
        logger.info(
            "stream %s %s (version %d here, %d there)",
            STREAM_NAME,
            change.value,
            STREAM_CONFIG_VERSION,
            configured_version(info.config),
        )
    return info


def nats_servers(url: str) -> list[str]:
    """The servers of `NATS_URL`: one URL, or several separated by commas (the NATS
    convention, `nats://a:4222,nats://b:4222`)."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("NATS_URL names no server")
    return servers


async def connect_nats(url: str, client_name: str, *, retry_delay: float = 1.0) -> NatsClient:
    """Connect to any server of `url`, waiting for one if none is up yet; afterwards, reconnect
    for ever, moving to another server of the list (or of the cluster) when one goes away."""
    servers = nats_servers(url)

    async def on_disconnected() -> None:
        logger.warning("NATS connection lost; reconnecting")

    async def on_reconnected() -> None:
        logger.warning(
            "NATS reconnected to %s", nc.connected_url.netloc if nc.connected_url else "?"
        )

    async def on_error(error: Exception) -> None:
        logger.warning("NATS: %s", error or type(error).__name__)

    while True:
        nc = NatsClient()
        try:
            await nc.connect(
                servers,
                name=client_name,
                max_reconnect_attempts=-1,
                reconnect_time_wait=RECONNECT_WAIT_SECONDS,  # type: ignore[arg-type]
                connect_timeout=2,
                ping_interval=PING_INTERVAL_SECONDS,
                max_outstanding_pings=2,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                error_cb=on_error,
            )
            return nc
        except (TimeoutError, OSError, nats.errors.NoServersError) as error:
            logger.warning("NATS at %s not reachable (%s); retrying", url, error)
            await asyncio.sleep(retry_delay)
