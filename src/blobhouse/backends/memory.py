"""Objects in a dict: for tests and throwaway development servers.

Nothing survives a restart, so this backend is never the default.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from blobhouse.backends.base import Backend, Body, ObjectExists, Quota, StoredObject, bytes_body
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import ObjectId
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import RangeSpec

__all__ = ["MemoryBackend"]


class MemoryBackend(Backend):
    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._objects: dict[ObjectId, tuple[Metadata, bytes]] = {}
        self._lock = asyncio.Lock()

    def _live(
        self, object_id: ObjectId, now: datetime | None = None
    ) -> tuple[Metadata, bytes] | None:
        entry = self._objects.get(object_id)
        if entry is None:
            return None
        meta = entry[0]
        if meta.time_expires is not None and meta.is_expired(now or _now()):
            return None
        return entry

    async def put(
        self,
        object_id: ObjectId,
        metadata: Metadata,
        body: Body,
        *,
        if_absent: bool = False,
        quota: Quota | None = None,
    ) -> Metadata:
        # The body is collected before the check so an interrupted upload changes nothing.
        payload = b"".join([chunk async for chunk in body])
        stored = replace(metadata, size=len(payload))
        async with self._lock:
            if if_absent and self._live(object_id, metadata.time_created) is not None:
                raise ObjectExists(str(object_id))
            self._objects[object_id] = (stored, payload)
        return stored

    async def get(
        self, object_id: ObjectId, byte_range: RangeSpec | None = None
    ) -> StoredObject | None:
        entry = self._live(object_id)
        if entry is None:
            return None
        meta, payload = entry
        if byte_range is None:
            return StoredObject(meta, bytes_body(payload))
        resolved = byte_range.resolve(len(payload))
        return StoredObject(meta, bytes_body(payload[resolved.start : resolved.end + 1]), resolved)

    async def head(self, object_id: ObjectId) -> Metadata | None:
        entry = self._live(object_id)
        return None if entry is None else entry[0]

    async def delete(self, object_id: ObjectId) -> bool:
        return self._objects.pop(object_id, None) is not None

    async def set_expiry(
        self,
        object_id: ObjectId,
        time_expires: datetime,
        policy: ExpirationPolicy | None = None,
    ) -> bool:
        entry = self._objects.get(object_id)
        if entry is None:
            return False
        meta, payload = entry
        if meta.time_expires is None or meta.time_expires >= time_expires:
            return False
        changed = replace(meta, time_expires=time_expires)
        if policy is not None:
            changed = replace(changed, expiration_policy=policy)
        self._objects[object_id] = (changed, payload)
        return True

    async def reap_expired(self, now: datetime, limit: int) -> int:
        expired = [oid for oid, (meta, _) in self._objects.items() if meta.is_expired(now)]
        for oid in expired[:limit]:
            del self._objects[oid]
        return min(len(expired), limit)


def _now() -> datetime:
    return datetime.now(UTC)
