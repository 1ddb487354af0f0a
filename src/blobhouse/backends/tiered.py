"""Small objects inline in SQL, large ones in bulk storage, one row as the index of both.

The first ``threshold`` bytes of an upload are buffered. If the body ends within them the
object is written inline in the high-volume store (one transaction). Otherwise the buffer
and the rest stream to the long-term backend under a fresh revision key
(``<key>/<uuid7>``), and only then is the row committed pointing at it. The blob the row
pointed at before is deleted after the commit; a writer that fails deletes its own blob.
Reads touch one row and at most one blob.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import uuid_utils

from blobhouse.backends.base import Backend, Body, ObjectExists, Quota, StoredObject, bytes_body
from blobhouse.backends.sql import BlobRef, SqlStore
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import ObjectId, Scopes
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import RangeSpec

__all__ = ["DEFAULT_THRESHOLD", "TieredBackend"]

DEFAULT_THRESHOLD = 1 << 20
log = logging.getLogger(__name__)


class TieredBackend(Backend):
    def __init__(
        self,
        high_volume: SqlStore,
        long_term: Backend,
        *,
        threshold_bytes: int = DEFAULT_THRESHOLD,
        name: str = "tiered",
    ) -> None:
        self.name = name
        self.high_volume = high_volume
        self.long_term = long_term
        self.threshold = threshold_bytes
        self._cleanup: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await self.high_volume.open()
        await self.long_term.open()

    async def close(self) -> None:
        if self._cleanup:
            await asyncio.wait(set(self._cleanup), timeout=5)
        await self.long_term.close()
        await self.high_volume.close()

    # --- blob references ---------------------------------------------------------------

    def _blob_id(self, blob: BlobRef) -> ObjectId:
        usecase, scopes, key = blob.key.split("/", 2)
        return ObjectId(usecase, Scopes.parse(scopes), key)

    def _new_blob(self, object_id: ObjectId) -> BlobRef:
        revision = f"{object_id.key}/{uuid_utils.uuid7()}"
        return BlobRef(self.long_term.name, f"{object_id.usecase}/{object_id.scopes}/{revision}")

    def _forget(self, blob: BlobRef | None) -> None:
        """Delete a replaced blob in the background; readers no longer reach it."""
        if blob is None:
            return
        task = asyncio.get_running_loop().create_task(self._delete_blob(blob))
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    async def _delete_blob(self, blob: BlobRef) -> None:
        try:
            await self.long_term.delete(self._blob_id(blob))
        except Exception:  # the orphan sweep (later) catches what this misses
            log.exception("could not delete replaced blob %s", blob.key)

    # --- writes -----------------------------------------------------------------------

    async def put(
        self,
        object_id: ObjectId,
        metadata: Metadata,
        body: Body,
        *,
        if_absent: bool = False,
        quota: Quota | None = None,
    ) -> Metadata:
        head: list[bytes] = []
        buffered = 0
        iterator = aiter(body)
        exhausted = False
        while buffered <= self.threshold:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                exhausted = True
                break
            head.append(chunk)
            buffered += len(chunk)
        if exhausted:
            payload = b"".join(head)
            stored = replace(metadata, size=len(payload))
            await self._commit(object_id, stored, payload=payload, if_absent=if_absent, quota=quota)
            return stored

        if if_absent and await self._is_live(object_id, metadata):
            raise ObjectExists(str(object_id))
        if quota is not None:
            # Refuse before streaming a large body into a tenant that is already full.
            await self.high_volume.check_quota(object_id, quota, adding_bytes=buffered)
        blob = self._new_blob(object_id)
        stored = await self.long_term.put(self._blob_id(blob), metadata, _chain(head, iterator))
        await self._commit(object_id, stored, blob=blob, if_absent=if_absent, quota=quota)
        return stored

    async def _commit(
        self,
        object_id: ObjectId,
        stored: Metadata,
        *,
        payload: bytes | None = None,
        blob: BlobRef | None = None,
        if_absent: bool,
        quota: Quota | None,
    ) -> None:
        """Commit the row, then clean up; runs to the end even if the caller is cancelled.

        A cancelled request must not leave a row pointing at a blob it then deleted, nor
        forget the blob a committed row just replaced.
        """

        async def commit() -> None:
            try:
                replaced = await self.high_volume.write(
                    object_id, stored, payload=payload, blob=blob, if_absent=if_absent, quota=quota
                )
            except BaseException:
                if blob is not None:
                    await self._delete_blob(blob)
                raise
            self._forget(replaced)

        task = asyncio.get_running_loop().create_task(commit())
        self._cleanup_tasks_hold(task)
        await asyncio.shield(task)

    def _cleanup_tasks_hold(self, task: asyncio.Task[None]) -> None:
        self._cleanup.add(task)
        task.add_done_callback(self._cleanup.discard)

    async def _is_live(self, object_id: ObjectId, metadata: Metadata) -> bool:
        row = await self.high_volume.get_row(object_id, with_payload=False)
        now = metadata.time_created or datetime.now(UTC)
        return row is not None and not row.metadata.is_expired(now)

    async def delete(self, object_id: ObjectId) -> bool:
        existed, blob = await self.high_volume.delete(object_id)
        self._forget(blob)
        return existed

    async def set_expiry(
        self,
        object_id: ObjectId,
        time_expires: datetime,
        policy: ExpirationPolicy | None = None,
    ) -> bool:
        return await self.high_volume.set_expiry(object_id, time_expires, policy)

    async def reap_expired(self, now: datetime, limit: int) -> int:
        taken = await self.high_volume.take_expired(now, limit)
        for _, blob in taken:
            if blob is not None:
                await self._delete_blob(blob)
        return len(taken)

    # --- reads ------------------------------------------------------------------------

    async def head(self, object_id: ObjectId) -> Metadata | None:
        row = await self.high_volume.get_row(object_id, with_payload=False)
        if row is None or row.metadata.is_expired(datetime.now(UTC)):
            return None
        return row.metadata

    async def get(
        self, object_id: ObjectId, byte_range: RangeSpec | None = None
    ) -> StoredObject | None:
        row = await self.high_volume.get_row(object_id)
        if row is None or row.metadata.is_expired(datetime.now(UTC)):
            return None
        if row.blob is None:
            payload = row.payload or b""
            if byte_range is None:
                return StoredObject(row.metadata, bytes_body(payload))
            resolved = byte_range.resolve(len(payload))
            return StoredObject(
                row.metadata, bytes_body(payload[resolved.start : resolved.end + 1]), resolved
            )
        stored = await self.long_term.get(self._blob_id(row.blob), byte_range)
        if stored is None:
            log.error("object %s points at missing blob %s", object_id, row.blob.key)
            return None
        # The row is authoritative for metadata (TTI bumps only touch the row).
        return StoredObject(row.metadata, stored.body, stored.range)


async def _chain(head: list[bytes], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in head:
        yield chunk
    async for chunk in rest:
        yield chunk
