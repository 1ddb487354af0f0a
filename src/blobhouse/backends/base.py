"""The small protocol every storage backend speaks, and the types it exchanges.

Backends store bytes and metadata and know nothing of usecase policy or HTTP. The service
stamps timestamps and checks policy before a backend sees a write; backends enforce only
what must be atomic with the write itself (create-if-absent) and never serve an object
whose deadline has passed.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime

from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import ObjectId
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import ByteRange, RangeSpec

__all__ = [
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Body",
    "ObjectExists",
    "PayloadTooLarge",
    "Quota",
    "QuotaExceeded",
    "StoredObject",
    "bytes_body",
]

Body = AsyncIterator[bytes]


class BackendError(Exception):
    """A storage engine failed; the message names the backend."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"storage backend {backend!r}: {message}")
        self.backend = backend


class BackendUnavailable(BackendError):
    """The engine cannot be reached right now (answered as 503)."""


class ObjectExists(Exception):
    """A create-only write (``If-None-Match: *``) found a live object at the key."""


@dataclass(frozen=True, slots=True)
class Quota:
    """Storage limits of one usecase: in total, and for each of its scopes (tenants)."""

    max_bytes: int | None = None
    max_objects: int | None = None
    scope_max_bytes: int | None = None
    scope_max_objects: int | None = None


class QuotaExceeded(Exception):
    """A write that would take a usecase or scope past its quota (answered as 413)."""

    def __init__(self, level: str, name: str, unit: str, limit: int, used: int, adding: int):
        super().__init__(
            f"{level} {name!r} would exceed its quota of {limit} {unit} "
            f"({used} used, this write adds {adding})"
        )
        self.figures = {
            "quota": f"{level}.max_{unit}",
            level: name,
            "limit": limit,
            "used": used,
            "adding": adding,
        }


class PayloadTooLarge(Exception):
    """An upload exceeded a configured size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"payload exceeds the limit of {limit} bytes")
        self.limit = limit


async def bytes_body(*chunks: bytes) -> Body:
    """A body stream over in-memory chunks (tests, small writes)."""
    for chunk in chunks:
        if chunk:
            yield chunk


async def _empty() -> AsyncIterator[bytes]:
    if False:  # pragma: no cover - makes this an async generator
        yield b""


@dataclass(slots=True)
class StoredObject:
    """An object being read: its metadata and a stream of (a range of) its bytes.

    The caller must exhaust ``body`` or call :meth:`aclose`, which releases files or
    connections the backend holds open.
    """

    metadata: Metadata
    body: Body = field(default_factory=_empty)
    range: ByteRange | None = None

    async def aclose(self) -> None:
        closer = getattr(self.body, "aclose", None)
        if closer is not None:
            await closer()

    async def read(self) -> bytes:
        """Collect the whole body; for tests and small objects only."""
        try:
            return b"".join([chunk async for chunk in self.body])
        finally:
            await self.aclose()


class Backend(abc.ABC):
    """Where objects live. One module per engine implements this.

    ``put`` receives metadata with ``time_created``/``time_expires`` already stamped and
    returns it with ``size`` filled in. It must be atomic: a failed or interrupted body
    leaves the previous object (or nothing) visible, never a partial one. An acknowledged
    ``put`` is durable.
    """

    name: str = "backend"

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Prepare the engine (create directories, run migrations)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and wait for background work."""

    @abc.abstractmethod
    async def put(
        self,
        object_id: ObjectId,
        metadata: Metadata,
        body: Body,
        *,
        if_absent: bool = False,
        quota: Quota | None = None,
    ) -> Metadata:
        """Store an object, replacing any previous one (unless ``if_absent``).

        ``quota`` is only honoured by backends that keep usage counters (tiered); the
        settings refuse quotas for the others.
        """

    @abc.abstractmethod
    async def get(
        self, object_id: ObjectId, byte_range: RangeSpec | None = None
    ) -> StoredObject | None:
        """Open an object for reading; None when absent or expired.

        Raises :class:`~blobhouse.core.ranges.RangeNotSatisfiable` for a range outside the
        object.
        """

    @abc.abstractmethod
    async def head(self, object_id: ObjectId) -> Metadata | None:
        """An object's metadata; None when absent or expired."""

    @abc.abstractmethod
    async def delete(self, object_id: ObjectId) -> bool:
        """Remove an object; True if one was there. Missing objects are not an error."""

    @abc.abstractmethod
    async def set_expiry(
        self,
        object_id: ObjectId,
        time_expires: datetime,
        policy: ExpirationPolicy | None = None,
    ) -> bool:
        """Move a deadline later, never earlier, never touching the payload.

        With ``policy`` the stored policy is replaced too (a TTL extended to the new
        deadline). Returns True when the deadline moved.
        """

    @abc.abstractmethod
    async def reap_expired(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` objects whose deadline passed; return how many."""
