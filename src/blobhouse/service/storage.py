"""The storage service: usecase policy, timestamps, expiry and the reaper.

The server hands requests here already parsed; this layer knows nothing of HTTP. It
decides when an object was created and when it expires, refuses policies a usecase
forbids, refreshes time-to-idle deadlines on reads, and periodically deletes what expired.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from blobhouse.backends.base import Backend, Body, Quota, StoredObject
from blobhouse.core.expiration import TimeToLive, deadline_for, tti_bump
from blobhouse.core.ids import ObjectId
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import RangeSpec
from blobhouse.service.policy import UsecasePolicy

__all__ = ["NotExtendable", "StorageService"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _ceil_seconds(moment: datetime) -> datetime:
    if moment.microsecond:
        return moment.replace(microsecond=0) + timedelta(seconds=1)
    return moment


def _ceil_delta(delta: timedelta) -> timedelta:
    return timedelta(seconds=math.ceil(delta.total_seconds()))


class NotExtendable(Exception):
    """An expiry extension of an object that has no deadline to move (409)."""


class StorageService:
    def __init__(
        self,
        backend: Backend,
        usecases: Mapping[str, UsecasePolicy] | None = None,
        *,
        quotas: Mapping[str, Quota] | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.backend = backend
        self.usecases = dict(usecases or {})
        self.quotas = dict(quotas or {})
        self.clock = clock

    async def open(self) -> None:
        await self.backend.open()

    async def close(self) -> None:
        await self.backend.close()

    def check_policy(self, usecase: str, metadata: Metadata) -> None:
        """Raise PolicyViolation when the usecase forbids this expiration policy."""
        rules = self.usecases.get(usecase)
        if rules is not None:
            rules.check(usecase, metadata.expiration_policy)

    async def insert(
        self, object_id: ObjectId, metadata: Metadata, body: Body, *, if_absent: bool = False
    ) -> Metadata:
        self.check_policy(object_id.usecase, metadata)
        now = self.clock()
        stamped = replace(
            metadata,
            time_created=now,
            time_expires=deadline_for(metadata.expiration_policy, now),
            size=None,
        )
        return await self.backend.put(
            object_id,
            stamped,
            body,
            if_absent=if_absent,
            quota=self.quotas.get(object_id.usecase),
        )

    async def get(
        self, object_id: ObjectId, byte_range: RangeSpec | None = None
    ) -> StoredObject | None:
        stored = await self.backend.get(object_id, byte_range)
        if stored is None:
            return None
        now = self.clock()
        if stored.metadata.is_expired(now):
            await stored.aclose()
            return None
        await self._touch(object_id, stored.metadata, now)
        return stored

    async def head(self, object_id: ObjectId) -> Metadata | None:
        meta = await self.backend.head(object_id)
        if meta is None:
            return None
        now = self.clock()
        if meta.is_expired(now):
            return None
        await self._touch(object_id, meta, now)
        return meta

    async def extend_expiry(
        self,
        object_id: ObjectId,
        *,
        at: datetime | None = None,
        after: timedelta | None = None,
        from_creation: bool = False,
    ) -> bool:
        """Make an object live at least until a target deadline; never shorten one.

        Returns True when the deadline moved. Raises LookupError for a missing or expired
        object, NotExtendable for one that never expires, PolicyViolation for a target
        beyond the usecase's maximum.
        """
        meta = await self.backend.head(object_id)
        now = self.clock()
        if meta is None or meta.is_expired(now):
            raise LookupError(str(object_id))
        if meta.expiration_policy is None or meta.time_expires is None:
            raise NotExtendable(
                "the object never expires; only TTL and TTI objects can be extended"
            )
        if at is not None:
            target = _ceil_seconds(at)
        elif from_creation:
            if meta.time_created is None:
                raise NotExtendable("the object has no creation time to extend from")
            assert after is not None
            target = meta.time_created + after
        else:
            assert after is not None
            target = now + after
        rules = self.usecases.get(object_id.usecase)
        if rules is not None:
            rules.check_deadline(object_id.usecase, meta.expiration_policy, target - now)
        if meta.time_expires >= target:
            return False
        policy = None
        if isinstance(meta.expiration_policy, TimeToLive) and meta.time_created is not None:
            # TTL objects keep "created + ttl = deadline", so reads show the longer TTL.
            policy = TimeToLive(_ceil_delta(target - meta.time_created))
            target = meta.time_created + policy.delta
        return await self.backend.set_expiry(object_id, target, policy)

    async def delete(self, object_id: ObjectId) -> bool:
        return await self.backend.delete(object_id)

    async def _touch(self, object_id: ObjectId, meta: Metadata, now: datetime) -> None:
        """Refresh a time-to-idle deadline; the caller still sees the pre-bump metadata."""
        deadline = tti_bump(meta.expiration_policy, meta.time_expires, now)
        if deadline is not None:
            await self.backend.set_expiry(object_id, deadline)

    async def reap_expired(self, batch: int = 1000) -> int:
        """Delete expired objects in batches until none are left; return how many."""
        total = 0
        while True:
            removed = await self.backend.reap_expired(self.clock(), batch)
            total += removed
            if removed < batch:
                return total

    async def run_reaper(self, interval_seconds: float, batch: int = 1000) -> None:
        """Reap forever (until cancelled); errors are logged and retried next round."""
        while True:
            try:
                removed = await self.reap_expired(batch)
                if removed:
                    log.info("reaper removed %d expired objects", removed)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("expiry reaper failed; retrying in %ss", interval_seconds)
            await asyncio.sleep(interval_seconds)
