"""Revoked sessions: a JetStream key-value bucket of token ids, mirrored in every process.

Signing out puts the token's id (`jti`) into the bucket `revoked-sessions`, with the token's
`exp` as the value. Auth writes it through its outbox (a put is a JetStream publish to
`$KV.revoked-sessions.<jti>`), so a NATS outage delays a revocation but cannot lose it.
Every service that reads sessions watches the bucket from start-up and keeps the revoked ids
in memory (`RevokedSessions`): checking a request costs no I/O, and a revocation reaches every
replica as soon as NATS delivers it, within milliseconds. A service does not start serving
before it has loaded what the bucket holds, so a replica started after a sign-out refuses the
token too.

Entries expire with the bucket's max age: the session lifetime plus a margin for clocks that
disagree. A token revoked at time r expires by r + lifetime, so its entry outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BadRequestError
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue, StopIterSentinel

logger = logging.getLogger(__name__)

BUCKET = "revoked-sessions"
CLOCK_SKEW_MARGIN_SECONDS = 300
"""Kept beyond the session lifetime, in case a service's clock runs behind NATS's."""


def revocation_subject(jti: str) -> str:
    """Where a revocation is published: the bucket's key `jti` (a key-value put)."""
    return f"$KV.{BUCKET}.{jti}"


def revocation_value(exp: int) -> dict[str, int]:
    """The value stored for a revoked token: when the token expires anyway."""
    return {"exp": exp}


class RevokedSessions:
    """The ids of revoked tokens this process knows of, each with its token's expiry.

    An expired token is refused for being expired, so its id is forgotten after `exp`."""

    PRUNE_EVERY_SECONDS = 60.0

    def __init__(self) -> None:
        self._expiry: dict[str, int] = {}
        self._next_prune = 0.0

    def add(self, jti: str, exp: int) -> None:
        self._expiry[jti] = exp
        now = time.time()
        if now >= self._next_prune:
            self._next_prune = now + self.PRUNE_EVERY_SECONDS
            self._expiry = {j: e for j, e in self._expiry.items() if e >= now}

    def __contains__(self, jti: object) -> bool:
        return jti in self._expiry

    def __len__(self) -> int:
        return len(self._expiry)


async def ensure_revocation_bucket(js: JetStreamContext, ttl_seconds: int) -> KeyValue:
    """The bucket, created if missing. An existing bucket whose entries would expire before
    the sessions they revoke (a shorter max age) is given the longer one; a longer max age is
    left alone, since another service may be configured with a longer lifetime."""
    max_age = float(ttl_seconds + CLOCK_SKEW_MARGIN_SECONDS)
    config = KeyValueConfig(bucket=BUCKET, history=1, ttl=max_age, storage=StorageType.FILE)
    try:
        return await js.create_key_value(config)
    except BadRequestError:  # it exists, with another configuration
        pass
    bucket = await js.key_value(BUCKET)
    info = await js.stream_info(f"KV_{BUCKET}")
    current = info.config.max_age or 0.0  # 0: entries never expire
    if 0 < current < max_age:
        await js.update_stream(config=info.config.evolve(max_age=max_age))
        logger.info("revoked-sessions bucket: max age raised to %ss", int(max_age))
    return bucket


class RevocationWatcher:
    """Follows the bucket into `revoked`; `loaded` is set once what it held is applied.

    After NATS reconnects, or a failure (the bucket not reachable), the watch is started
    again, which delivers the whole bucket anew; what is already known stays revoked
    meanwhile."""

    def __init__(
        self,
        nc: NatsClient,
        revoked: RevokedSessions,
        ttl_seconds: int,
        retry_delay: float = 1.0,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.revoked = revoked
        self.ttl_seconds = ttl_seconds
        self.retry_delay = retry_delay
        self.loaded = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            watcher: Any = None
            try:
                reconnects = self._nc.stats["reconnects"]
                bucket = await ensure_revocation_bucket(self._js, self.ttl_seconds)
                watcher = await bucket.watchall()
                await self._follow(watcher, stop, reconnects)
            except Exception as error:
                logger.warning("watching revoked sessions failed (%r); retrying", error)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.retry_delay)
            finally:
                if watcher is not None:
                    with contextlib.suppress(Exception):
                        await watcher.stop()

    async def _follow(self, watcher: Any, stop: asyncio.Event, reconnects: int) -> None:
        while not stop.is_set():
            if self._nc.stats["reconnects"] != reconnects:
                return  # a watch over a lost connection may have missed entries: start anew
            try:
                entry = await watcher.updates(timeout=0.5)
            except NatsTimeout:
                continue
            if entry is None:  # the watch has delivered what the bucket held
                self.loaded.set()
            elif isinstance(entry, StopIterSentinel):
                raise RuntimeError("the watch was stopped")
            elif entry.operation not in (KV_DEL, KV_PURGE):
                self.revoked.add(entry.key, self._expiry(entry.key, entry.value))

    def _expiry(self, jti: str, value: bytes | None) -> int:
        try:
            return int(json.loads(value or b"")["exp"])
        except (ValueError, KeyError, TypeError):
            logger.warning("revoked session %s has an unreadable value %r", jti, value)
            return int(time.time()) + self.ttl_seconds
