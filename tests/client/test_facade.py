"""The storage facade end to end against a real server (auth off; signed URLs: tests/auth)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from blobhouse import ObjectNotFound, TimeToIdle
from blobhouse.aio import AsyncClient
from blobhouse.facade import (
    BlobStorage,
    StorageId,
    StorageScope,
    StorageServiceBuilder,
    close,
    configure,
)
from tests.servers import ServerProcess

ATTACHMENTS = StorageServiceBuilder.for_usecase("attachments")


@pytest.fixture
async def storage(blobhouse_server: ServerProcess) -> AsyncIterator[BlobStorage]:
    async with AsyncClient(blobhouse_server.url) as client:
        org = uuid.uuid4().int % 10**9
        yield ATTACHMENTS.with_client(client).with_scope(StorageScope.for_organization(org))


async def test_put_get_delete_blob(storage: BlobStorage) -> None:
    storage_id = await storage.put_blob(b"raw attachment", content_type="text/plain")
    contents = (await storage.get_blob(storage_id)).read()
    assert contents == b"raw attachment"
    await storage.delete_blob(storage_id)
    with pytest.raises(ObjectNotFound):
        await storage.get_blob(storage_id)


async def test_storage_ids_round_trip_as_strings(storage: BlobStorage) -> None:
    storage_id = await storage.put_blob(b"kept in a database column")
    text = str(storage_id)
    assert StorageId.from_str(text) == storage_id
    assert (await storage.get_blob(text)).read() == b"kept in a database column"


@pytest.mark.parametrize("text", ["", "bh1.", "bh1.!!!", "s3://bucket/key", "bh1.WyJhIl0"])
def test_malformed_storage_ids_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="storage id"):
        StorageId.from_str(text)


async def test_an_id_from_another_tenant_is_refused(
    storage: BlobStorage, blobhouse_server: ServerProcess
) -> None:
    storage_id = await storage.put_blob(b"tenant one")
    async with AsyncClient(blobhouse_server.url) as client:
        other = ATTACHMENTS.with_client(client).with_scope(StorageScope.for_organization(-1))
        with pytest.raises(ValueError, match="only work in the store that made them"):
            await other.get_blob(storage_id)
        with pytest.raises(ValueError, match="only work in the store that made them"):
            await other.delete_blob(storage_id)
    assert (await storage.get_blob(storage_id)).read() == b"tenant one"


async def test_assemble_from_parts_across_tiers(storage: BlobStorage) -> None:
    small = b"head|"
    large = bytes(range(256)) * 6000  # about 1.5 MiB: a blob file, not an inline row
    ids = [await storage.put_blob(part) for part in (small, large, b"|tail")]
    whole = await storage.assemble_from_parts(ids, content_type="application/x-tar")
    result = await storage.open_blob(whole)
    assert result.metadata.content_type == "application/x-tar"
    assert await result.payload.read() == small + large + b"|tail"


async def test_keepalive_refreshes_time_to_idle_without_downloading(
    blobhouse_server: ServerProcess,
) -> None:
    builder = StorageServiceBuilder.for_usecase(
        "attachments", expiration_policy=TimeToIdle(timedelta(days=1))
    )
    async with AsyncClient(blobhouse_server.url) as client:
        storage = builder.with_client(client).with_scope(StorageScope.for_project(1, 2))
        storage_id = await storage.put_blob(b"idle")
        await storage.keepalive(storage_id)
        await storage.delete_blob(storage_id)
        with pytest.raises(ObjectNotFound):
            await storage.keepalive(storage_id)


async def test_configure_supplies_the_default_connection(blobhouse_server: ServerProcess) -> None:
    configure(blobhouse_server.url)
    try:
        storage = ATTACHMENTS.with_scope(StorageScope.for_organization(7).nested(team=3))
        storage_id = await storage.put_blob(b"via configure")
        assert storage_id.scopes == "org=7;team=3"
        assert (await storage.get_blob(storage_id)).read() == b"via configure"
    finally:
        await close()
