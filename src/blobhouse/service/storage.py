"""The storage service: usecase policy, timestamps, expiry and the reaper.

The server hands requests here already parsed; this layer knows nothing of HTTP. It
decides when an object was created and when it expires, refuses policies a usecase
forbids, refreshes time-to-idle deadlines on reads, and periodically deletes what expired.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from blobhouse.backends.base import Backend, Body, Quota, StoredObject
from blobhouse.core.expiration import deadline_for, tti_bump
from blobhouse.core.ids import ObjectId
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import RangeSpec
from blobhouse.service.policy import UsecasePolicy

__all__ = ["StorageService"]

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
