"""The storage facade application code is written against: one blob store per usecase and tenant.

::

    ATTACHMENTS = StorageServiceBuilder.for_usecase("attachments")

    storage = ATTACHMENTS.with_scope(StorageScope.for_organization(org_id))
    storage_id = await storage.put_blob(b"raw attachment")
    contents = (await storage.get_blob(storage_id)).read()
    await storage.delete_blob(storage_id)

Builders are cheap, immutable module-level constants; the server connection is resolved
at first use, from :func:`configure` or the ``BLOBHOUSE_URL`` environment variable (with
``BLOBHOUSE_TOKEN`` for a static token), one :class:`~blobhouse.aio.AsyncClient` per
event loop (aiohttp sessions cannot cross loops). Tests and services that own their
client pass it with :meth:`StorageServiceBuilder.with_client`.

A :class:`StorageId` names usecase, scopes and key in one opaque string, so it can be
stored in a database column and handed back later; a store refuses ids of another
usecase or tenant, which keeps one tenant's id from reaching another's data.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from blobhouse.client._aio import AsyncClient, AsyncGetResponse, AsyncSession, Contents
from blobhouse.client._auth import TokenProvider
from blobhouse.client._client import Usecase
from blobhouse.client._errors import ObjectNotFound
from blobhouse.client._models import Compression
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import Scopes, validate_key, validate_usecase

__all__ = [
    "BlobStorage",
    "StorageId",
    "StorageScope",
    "StorageServiceBuilder",
    "close",
    "configure",
]

_ID_PREFIX = "bh1."


@dataclass(frozen=True)
class StorageScope:
    """The tenant a blob store serves, as ordered scope pairs (``org``, then ``project``)."""

    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def for_organization(cls, org_id: int | str) -> StorageScope:
        return cls((("org", str(org_id)),))

    @classmethod
    def for_project(cls, org_id: int | str, project_id: int | str) -> StorageScope:
        return cls((("org", str(org_id)), ("project", str(project_id))))

    def nested(self, **more: int | str) -> StorageScope:
        """A narrower scope below this one (``for_organization(1).nested(team=5)``)."""
        return StorageScope(self.pairs + tuple((name, str(value)) for name, value in more.items()))

    def scopes(self) -> Scopes:
        return Scopes.of(**dict(self.pairs))


@dataclass(frozen=True)
class StorageId:
    """Where a blob lives: usecase, scopes and key. ``str()`` and :meth:`from_str` round-trip."""

    usecase: str
    scopes: str
    key: str

    def __str__(self) -> str:
        raw = json.dumps([self.usecase, self.scopes, self.key], separators=(",", ":"))
        return _ID_PREFIX + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_str(cls, text: str) -> StorageId:
        """Parse an id made by ``str()``; ValueError for anything else."""
        if not text.startswith(_ID_PREFIX):
            raise ValueError(f"not a Blobhouse storage id: {text[:40]!r}")
        encoded = text[len(_ID_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            usecase, scopes, key = json.loads(raw)
            validate_usecase(usecase)
            Scopes.parse(scopes)
            validate_key(key)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"malformed Blobhouse storage id: {exc}") from exc
        return cls(usecase, scopes, key)


@dataclass
class _Connection:
    url: str | None = None
    token: TokenProvider | None = None
    options: dict[str, Any] = field(default_factory=dict)
    clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncClient] = field(
        default_factory=weakref.WeakKeyDictionary
    )

    def client(self) -> AsyncClient:
        loop = asyncio.get_running_loop()
        found = self.clients.get(loop)
        if found is None:
            url = self.url or os.environ.get("BLOBHOUSE_URL")
            if not url:
                raise RuntimeError(
                    "no Blobhouse server configured: call blobhouse.facade.configure(url) "
                    "or set BLOBHOUSE_URL"
                )
            token = self.token if self.token is not None else os.environ.get("BLOBHOUSE_TOKEN")
            found = AsyncClient(url, token=token, **self.options)
            self.clients[loop] = found
        return found


_DEFAULT = _Connection()


def configure(url: str, *, token: TokenProvider | None = None, **options: Any) -> None:
    """Set the server every builder without its own client uses (``options`` go to AsyncClient)."""
    _DEFAULT.url, _DEFAULT.token, _DEFAULT.options = url, token, options
    _DEFAULT.clients = weakref.WeakKeyDictionary()


async def close() -> None:
    """Close the default connection of the running event loop (call at application shutdown)."""
    client = _DEFAULT.clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.close()


@dataclass(frozen=True)
class StorageServiceBuilder:
    """A usecase's blob storage, not yet bound to a tenant."""

    usecase: Usecase
    client: AsyncClient | None = None

    @classmethod
    def for_usecase(
        cls,
        name: str,
        *,
        compression: Compression = "zstd",
        expiration_policy: ExpirationPolicy | None = None,
    ) -> StorageServiceBuilder:
        return cls(Usecase(name, compression=compression, expiration_policy=expiration_policy))

    def with_client(self, client: AsyncClient) -> StorageServiceBuilder:
        return StorageServiceBuilder(self.usecase, client)

    def with_scope(self, scope: StorageScope) -> BlobStorage:
        return BlobStorage(self, scope)


class BlobStorage:
    """The blobs of one usecase and tenant (from :meth:`StorageServiceBuilder.with_scope`)."""

    def __init__(self, builder: StorageServiceBuilder, scope: StorageScope) -> None:
        self._builder = builder
        self._scope = scope
        self._scopes = str(scope.scopes())

    def __repr__(self) -> str:
        return f"<BlobStorage {self._builder.usecase.name}/{self._scopes}>"

    def _session(self) -> AsyncSession:
        client = self._builder.client or _DEFAULT.client()
        return client.session(self._builder.usecase, **dict(self._scope.pairs))

    def _id(self, key: str) -> StorageId:
        return StorageId(self._builder.usecase.name, self._scopes, key)

    def _key(self, storage_id: StorageId | str) -> str:
        parsed = StorageId.from_str(storage_id) if isinstance(storage_id, str) else storage_id
        if (parsed.usecase, parsed.scopes) != (self._builder.usecase.name, self._scopes):
            raise ValueError(
                f"storage id of {parsed.usecase}/{parsed.scopes} used with {self!r}: "
                "ids only work in the store that made them"
            )
        return parsed.key

    async def put_blob(
        self,
        contents: Contents,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        expiration_policy: ExpirationPolicy | None = None,
        filename: str | None = None,
        origin: str | None = None,
    ) -> StorageId:
        key = await self._session().put(
            contents,
            content_type=content_type,
            metadata=metadata,
            expiration_policy=expiration_policy,
            filename=filename,
            origin=origin,
        )
        return self._id(key)

    async def get_blob(self, storage_id: StorageId | str) -> io.BytesIO:
        """The whole blob in memory; :meth:`open_blob` streams. ObjectNotFound if absent."""
        result = await self.open_blob(storage_id)
        return io.BytesIO(await result.payload.read())

    async def open_blob(self, storage_id: StorageId | str) -> AsyncGetResponse:
        """The blob as a stream (``async for chunk in result.payload``)."""
        key = self._key(storage_id)
        result = await self._session().get(key)
        if result is None:
            raise ObjectNotFound(f"blob {key!r} not found in {self!r}", 404, None)
        return result

    async def delete_blob(self, storage_id: StorageId | str) -> None:
        await self._session().delete(self._key(storage_id))

    async def keepalive(self, storage_id: StorageId | str) -> None:
        """Refresh a time-to-idle deadline without downloading (a HEAD counts as an access)."""
        key = self._key(storage_id)
        if await self._session().head(key) is None:
            raise ObjectNotFound(f"blob {key!r} not found in {self!r}", 404, None)

    async def signed_put_url(
        self,
        ttl: timedelta = timedelta(minutes=10),
        *,
        max_size: int | None = None,
        content_type: str | None = None,
    ) -> tuple[str, StorageId]:
        """A URL anyone may ``PUT`` one blob to until ``ttl`` passes, and the id it will have.

        Needs a signing key (``configure(url, token=SecretKey(...))``) with write permission.
        """
        key = str(uuid.uuid4())
        url = self._session().presigned_put_url(
            key, ttl, max_size=max_size, content_type=content_type
        )
        return url, self._id(key)

    async def signed_get_url(
        self, storage_id: StorageId | str, ttl: timedelta = timedelta(minutes=5)
    ) -> str:
        """A URL anyone may ``GET`` the blob from until ``ttl`` passes (browsers get it decoded)."""
        return self._session().presigned_object_url("GET", self._key(storage_id), ttl)

    async def assemble_from_parts(
        self,
        parts: Sequence[StorageId | str],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        expiration_policy: ExpirationPolicy | None = None,
        filename: str | None = None,
    ) -> StorageId:
        """A new blob that is the parts one after another, concatenated by the server."""
        keys = [self._key(part) for part in parts]
        key = await self._session().compose(
            keys,
            content_type=content_type,
            metadata=metadata,
            expiration_policy=expiration_policy,
            filename=filename,
        )
        return self._id(key)
