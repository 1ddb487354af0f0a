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

from blobhouse.core.ids import Scopes
from blobhouse.server.http import HttpError

__all__ = [
    "BandwidthLimiter",
    "ConcurrencyLimiter",
    "Killswitch",
    "Killswitches",
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


class _TokenBucket:
    """Capacity ``rps + burst``, starts full, refills ``rps`` tokens a second."""

    __slots__ = ("capacity", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = rate + burst
        self.tokens = self.capacity
        self.last = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        refill = (now - self.last) * self.rate
        if refill >= 1:  # only whole tokens, as upstream
            self.tokens = min(self.capacity, self.tokens + refill)
            self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


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
    def __init__(
        self,
        global_rps: float | None,
        burst: int = 0,
        usecase_pct: float | None = None,
        scope_pct: float | None = None,
        rules: Sequence[ThroughputRule] = (),
    ) -> None:
        self.global_rps = global_rps
        self.burst = burst
        self.usecase_pct = usecase_pct
        self.scope_pct = scope_pct
        self.rules = list(rules)
        self._global = None if global_rps is None else _TokenBucket(global_rps, burst)
        self._usecases: dict[str, _TokenBucket] = {}
        self._scopes: dict[str, _TokenBucket] = {}
        self._rules: dict[int, _TokenBucket] = {}

    def _share(self, pct: float) -> float:
        assert self.global_rps is not None
        return float(int(self.global_rps * pct / 100))

    def check(self, usecase: str, scopes: Scopes) -> None:
        """Take one token from every applicable bucket, or raise 429 naming the first empty."""
        if self._global is not None:
            if not self._global.take():
                raise HttpError(429, "rate limited: global throughput exceeded")
            if self.usecase_pct is not None:
                bucket = self._usecases.get(usecase)
                if bucket is None:
                    bucket = self._usecases[usecase] = _TokenBucket(
                        self._share(self.usecase_pct), self.burst
                    )
                if not bucket.take():
                    raise HttpError(429, f"rate limited: throughput of usecase '{usecase}'")
            if self.scope_pct is not None:
                key = str(scopes)
                bucket = self._scopes.get(key)
                if bucket is None:
                    bucket = self._scopes[key] = _TokenBucket(
                        self._share(self.scope_pct), self.burst
                    )
                if not bucket.take():
                    raise HttpError(429, f"rate limited: throughput of scope '{key}'")
        for index, rule in enumerate(self.rules):
            if not rule.matches(usecase, scopes):
                continue
            bucket = self._rules.get(index)
            if bucket is None:
                limits = [rule.rps] if rule.rps is not None else []
                if rule.pct is not None and self.global_rps is not None:
                    limits.append(self._share(rule.pct))
                if not limits:
                    continue
                bucket = self._rules[index] = _TokenBucket(min(limits), self.burst)
            if not bucket.take():
                raise HttpError(429, "rate limited: throughput rule exceeded")


# --- bandwidth: GCRA debt buckets ---------------------------------------------------------


class _Gcra:
    """Theoretical arrival time: spending n bytes pushes it n/bps seconds later."""

    __slots__ = ("bps", "burst", "tat")

    def __init__(self, bps: float, burst_seconds: float) -> None:
        self.bps = bps
        self.burst = burst_seconds
        self.tat = time.monotonic()

    def admits(self, now: float) -> bool:
        return self.tat <= now + self.burst

    def charge(self, size: int, now: float) -> None:
        if self.bps > 0:
            self.tat = max(self.tat, now) + size / self.bps


class BandwidthLimiter:
    def __init__(
        self,
        global_bps: float | None,
        burst_ms: int = 1000,
        usecase_pct: float | None = None,
        scope_pct: float | None = None,
        report_only: bool = False,
    ) -> None:
        self.global_bps = global_bps
        self.burst = burst_ms / 1000
        self.usecase_pct = usecase_pct
        self.scope_pct = scope_pct
        self.report_only = report_only
        self.bytes_total = 0
        self._global = None if global_bps is None else _Gcra(global_bps, self.burst)
        self._usecases: dict[str, _Gcra] = {}
        self._scopes: dict[str, _Gcra] = {}

    def _buckets(self, usecase: str, scopes: Scopes) -> list[tuple[str, _Gcra]]:
        if self._global is None or self.global_bps is None:
            return []
        out = [("global", self._global)]
        if self.usecase_pct is not None:
            bucket = self._usecases.setdefault(
                usecase, _Gcra(self.global_bps * self.usecase_pct / 100, self.burst)
            )
            out.append((f"usecase '{usecase}'", bucket))
        if self.scope_pct is not None:
            key = str(scopes)
            bucket = self._scopes.setdefault(
                key, _Gcra(self.global_bps * self.scope_pct / 100, self.burst)
            )
            out.append((f"scope '{key}'", bucket))
        return out

    def check(self, usecase: str, scopes: Scopes) -> None:
        now = time.monotonic()
        for name, bucket in self._buckets(usecase, scopes):
            if not bucket.admits(now) and not self.report_only:
                raise HttpError(429, f"rate limited: bandwidth of {name} exceeded")

    def charge(self, usecase: str, scopes: Scopes, size: int) -> None:
        self.bytes_total += size
        now = time.monotonic()
        for _, bucket in self._buckets(usecase, scopes):
            bucket.charge(size, now)

    async def metered(
        self, usecase: str, scopes: Scopes, body: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        """Pass a byte stream through, charging its bytes as they flow."""
        async for chunk in body:
            self.charge(usecase, scopes, len(chunk))
            yield chunk


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
