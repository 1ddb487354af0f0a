"""Admission control: killswitches, rate limits and concurrency caps (spec §11).

Checked per request after the path is parsed and before any storage work, so a tenant
that is switched off or over its budget costs almost nothing. Limits here are per server
instance, as upstream.
"""

from __future__ import annotations

import asyncio
import fnmatch
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from blobhouse.core.ids import Scopes
from blobhouse.server.http import HttpError

__all__ = [
    "BandwidthLimiter",
    "Bucket",
    "ConcurrencyLimiter",
    "Killswitch",
    "Killswitches",
    "LocalBuckets",
    "LocalDebt",
    "RedisBuckets",
    "RedisDebt",
    "ThroughputLimiter",
    "ThroughputRule",
    "normalize_service",
]

_POD_HASH = re.compile(r"^(.+)-[a-z0-9]{7,10}-[a-z0-9]{5}$")
_POD_ORDINAL = re.compile(r"^(.+)-[0-9]+$")


def normalize_service(name: str) -> str:
    """Strip Kubernetes pod suffixes so a killswitch names the deployment."""
    match = _POD_HASH.match(name) or _POD_ORDINAL.match(name)
    return match.group(1) if match else name


# --- killswitches ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Killswitch:
    usecase: str | None = None
    scopes: Mapping[str, str] = field(default_factory=dict)
    service: str | None = None

    def matches(self, usecase: str, scopes: Scopes, service: str | None) -> bool:
        if self.usecase is not None and self.usecase != usecase:
            return False
        values = scopes.as_dict()
        if any(values.get(name) != value for name, value in self.scopes.items()):
            return False
        if self.service is not None:
            if service is None:
                return False
            return fnmatch.fnmatchcase(normalize_service(service), self.service)
        return True


class Killswitches:
    def __init__(self, switches: Sequence[Killswitch]) -> None:
        self.switches = list(switches)

    def check(self, usecase: str, scopes: Scopes, service: str | None) -> None:
        for switch in self.switches:
            if switch.matches(usecase, scopes, service):
                raise HttpError(
                    403, "object access is disabled for this scope through killswitches"
                )


# --- throughput: token buckets ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit that applies to a request: its key, refill rate and what to call it."""

    key: str
    rate: float
    capacity: float
    label: str


class _TokenBucket:
    """Capacity ``rps + burst``, starts full, refills ``rps`` tokens a second."""

    __slots__ = ("last", "tokens")

    def __init__(self, capacity: float) -> None:
        self.tokens = capacity
        self.last = time.monotonic()

    def take(self, rate: float, capacity: float) -> bool:
        now = time.monotonic()
        refill = (now - self.last) * rate
        if refill >= 1:  # only whole tokens, as upstream
            self.tokens = min(capacity, self.tokens + refill)
            self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class LocalBuckets:
    """Token buckets in this process: limits hold per server instance."""

    def __init__(self) -> None:
        self._buckets: dict[str, _TokenBucket] = {}

    async def take(self, buckets: Sequence[Bucket]) -> Bucket | None:
        """Take one token from each bucket in order; return the first that was empty."""
        for bucket in buckets:
            state = self._buckets.get(bucket.key)
            if state is None:
                state = self._buckets[bucket.key] = _TokenBucket(bucket.capacity)
            if not state.take(bucket.rate, bucket.capacity):
                return bucket
        return None


@dataclass(frozen=True, slots=True)
class ThroughputRule:
    usecase: str | None = None
    scopes: Mapping[str, str] = field(default_factory=dict)
    rps: float | None = None
    pct: float | None = None

    def matches(self, usecase: str, scopes: Scopes) -> bool:
        if self.usecase is not None and self.usecase != usecase:
            return False
        values = scopes.as_dict()
        return all(values.get(name) == value for name, value in self.scopes.items())


class ThroughputLimiter:
    """Requests per second: global, per usecase, per scope, and rules (spec §11.3)."""

    def __init__(
        self,
        global_rps: float | None,
        burst: int = 0,
        usecase_pct: float | None = None,
        scope_pct: float | None = None,
        rules: Sequence[ThroughputRule] = (),
        store: LocalBuckets | RedisBuckets | None = None,
    ) -> None:
        self.global_rps = global_rps
        self.burst = burst
        self.usecase_pct = usecase_pct
        self.scope_pct = scope_pct
        self.rules = list(rules)
        self.store = store or LocalBuckets()
        self.active = global_rps is not None or bool(self.rules)

    def _share(self, pct: float) -> float:
        assert self.global_rps is not None
        return float(int(self.global_rps * pct / 100))

    def _bucket(self, key: str, rate: float, label: str) -> Bucket:
        return Bucket(f"tp:{key}", rate, rate + self.burst, label)

    def plan(self, usecase: str, scopes: Scopes) -> list[Bucket]:
        """The buckets a request draws from, in the order they are checked."""
        out: list[Bucket] = []
        if self.global_rps is not None:
            out.append(self._bucket("global", self.global_rps, "global throughput"))
            if self.usecase_pct is not None:
                out.append(
                    self._bucket(
                        f"u:{usecase}",
                        self._share(self.usecase_pct),
                        f"throughput of usecase '{usecase}'",
                    )
                )
            if self.scope_pct is not None:
                out.append(
                    self._bucket(
                        f"s:{scopes}",
                        self._share(self.scope_pct),
                        f"throughput of scope '{scopes}'",
                    )
                )
        for index, rule in enumerate(self.rules):
            if not rule.matches(usecase, scopes):
                continue
            limits = [rule.rps] if rule.rps is not None else []
            if rule.pct is not None and self.global_rps is not None:
                limits.append(self._share(rule.pct))
            if limits:
                out.append(self._bucket(f"r:{index}", min(limits), "a throughput rule"))
        return out

    async def check(self, usecase: str, scopes: Scopes) -> None:
        """Take a token from every applicable bucket, or raise 429 naming the empty one."""
        if not self.active:
            return
        empty = await self.store.take(self.plan(usecase, scopes))
        if empty is not None:
            raise HttpError(429, f"rate limited: {empty.label} exceeded")


# --- bandwidth: GCRA debt buckets ---------------------------------------------------------


class LocalDebt:
    """Theoretical arrival times in this process: spending n bytes moves one n/bps later."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}

    async def admits(self, buckets: Sequence[Bucket], burst: float) -> Bucket | None:
        now = time.monotonic()
        for bucket in buckets:
            if self._tat.get(bucket.key, now) > now + burst:
                return bucket
        return None

    async def charge(self, buckets: Sequence[Bucket], size: int) -> None:
        now = time.monotonic()
        for bucket in buckets:
            if bucket.rate > 0:
                self._tat[bucket.key] = (
                    max(self._tat.get(bucket.key, now), now) + size / bucket.rate
                )


class BandwidthLimiter:
    """Bytes per second: checked when a request is admitted, charged as bytes flow."""

    def __init__(
        self,
        global_bps: float | None,
        burst_ms: int = 1000,
        usecase_pct: float | None = None,
        scope_pct: float | None = None,
        report_only: bool = False,
        store: LocalDebt | RedisDebt | None = None,
    ) -> None:
        self.global_bps = global_bps
        self.burst = burst_ms / 1000
        self.usecase_pct = usecase_pct
        self.scope_pct = scope_pct
        self.report_only = report_only
        self.store = store or LocalDebt()
        self.active = global_bps is not None
        self.bytes_total = 0

    def plan(self, usecase: str, scopes: Scopes) -> list[Bucket]:
        if self.global_bps is None:
            return []
        out = [Bucket("bw:global", self.global_bps, 0, "global bandwidth")]
        if self.usecase_pct is not None:
            out.append(
                Bucket(
                    f"bw:u:{usecase}",
                    self.global_bps * self.usecase_pct / 100,
                    0,
                    f"bandwidth of usecase '{usecase}'",
                )
            )
        if self.scope_pct is not None:
            out.append(
                Bucket(
                    f"bw:s:{scopes}",
                    self.global_bps * self.scope_pct / 100,
                    0,
                    f"bandwidth of scope '{scopes}'",
                )
            )
        return out

    async def check(self, usecase: str, scopes: Scopes) -> None:
        if not self.active:
            return
        over = await self.store.admits(self.plan(usecase, scopes), self.burst)
        if over is not None and not self.report_only:
            raise HttpError(429, f"rate limited: {over.label} exceeded")

    async def charge(self, usecase: str, scopes: Scopes, size: int) -> None:
        self.bytes_total += size
        if self.active and size:
            await self.store.charge(self.plan(usecase, scopes), size)

    async def metered(
        self, usecase: str, scopes: Scopes, body: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """Pass a byte stream through, charging its bytes in batches as they flow."""
        pending = 0
        try:
            async for chunk in body:
                pending += len(chunk)
                if pending >= _CHARGE_BATCH:
                    await self.charge(usecase, scopes, pending)
                    pending = 0
                yield chunk
        finally:
            if pending:
                await self.charge(usecase, scopes, pending)


_CHARGE_BATCH = 64 * 1024


# --- shared limits across instances (Redis) -----------------------------------------------

# Token buckets in Redis, timed by Redis's clock so every instance agrees. Returns the
# 1-based index of the first empty bucket, or 0.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i - 1])
  local cap = tonumber(ARGV[2 * i])
  local v = redis.call('HMGET', key, 't', 'ts')
  local tokens = tonumber(v[1]) or cap
  local ts = tonumber(v[2]) or now
  local refill = (now - ts) * rate
  if refill >= 1 then
    tokens = math.min(cap, tokens + refill)
    ts = now
  end
  local empty = tokens < 1
  if not empty then tokens = tokens - 1 end
  redis.call('HSET', key, 't', tostring(tokens), 'ts', tostring(ts))
  redis.call('EXPIRE', key, 3600)
  if empty then return i end
end
return 0
"""

_ADMITS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local tat = tonumber(redis.call('GET', key) or now)
  if tat > now + burst then return i end
end
return 0
"""

_CHARGE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local size = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[i + 1])
  if rate > 0 then
    local tat = math.max(tonumber(redis.call('GET', key) or now), now) + size / rate
    redis.call('SET', key, tostring(tat), 'EX', 3600)
  end
end
return 0
"""


class RedisBuckets:
    """Token buckets shared by every instance that points at the same Redis."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._take = client.register_script(_TAKE)
        self.prefix = prefix

    async def take(self, buckets: Sequence[Bucket]) -> Bucket | None:
        if not buckets:
            return None
        args: list[float] = []
        for bucket in buckets:
            args += [bucket.rate, bucket.capacity]
        index = int(await self._take(keys=[self.prefix + b.key for b in buckets], args=args))
        return buckets[index - 1] if index else None


class RedisDebt:
    """GCRA debt shared by every instance that points at the same Redis."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._admits = client.register_script(_ADMITS)
        self._charge = client.register_script(_CHARGE)
        self.prefix = prefix

    async def admits(self, buckets: Sequence[Bucket], burst: float) -> Bucket | None:
        if not buckets:
            return None
        keys = [self.prefix + b.key for b in buckets]
        index = int(await self._admits(keys=keys, args=[burst]))
        return buckets[index - 1] if index else None

    async def charge(self, buckets: Sequence[Bucket], size: int) -> None:
        if buckets:
            keys = [self.prefix + b.key for b in buckets]
            await self._charge(keys=keys, args=[size, *(b.rate for b in buckets)])


# --- concurrency ---------------------------------------------------------------------------


class ConcurrencyLimiter:
    """Backend permits: fail fast (429) unless a waiting slot and the timeout allow."""

    def __init__(self, limit: int, queue: int = 0, timeout: float = 1.0) -> None:
        self.limit = limit
        self.queue = queue
        self.timeout = timeout
        self.in_use = 0
        self.waiting = 0
        self._semaphore = asyncio.Semaphore(limit) if limit > 0 else None

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        semaphore = self._semaphore
        if semaphore is None:
            raise HttpError(429, "concurrency limit reached")
        if semaphore.locked():
            if self.waiting >= self.queue:
                raise HttpError(429, "concurrency limit reached")
            self.waiting += 1
            try:
                await asyncio.wait_for(semaphore.acquire(), self.timeout)
            except TimeoutError:
                raise HttpError(429, "concurrency limit reached") from None
            finally:
                self.waiting -= 1
        else:
            await semaphore.acquire()
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            semaphore.release()
