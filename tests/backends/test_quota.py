"""Usage counters and quotas in the tiered backend (kept in the SQL tier)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from blobhouse.backends.base import Quota, QuotaExceeded
from blobhouse.backends.filesystem import FilesystemBackend
from blobhouse.backends.sql import SqlStore
from blobhouse.backends.tiered import TieredBackend
from blobhouse.core.expiration import TimeToLive
from tests.backends.contract import LARGE, chunked, meta, oid, pattern


@pytest.fixture
async def tiered(tmp_path: Path) -> AsyncIterator[TieredBackend]:
    backend = TieredBackend(
        SqlStore(f"sqlite+aiosqlite:///{tmp_path}/hv.sqlite3"),
        FilesystemBackend(tmp_path / "lt", name="long_term"),
    )
    await backend.open()
    yield backend
    await backend.close()


async def usage_of(backend: TieredBackend, scope: str = "org=1") -> tuple[int, int]:
    rows = [u for u in await backend.high_volume.usage("contract") if u.scope == scope]
    return (rows[0].objects, rows[0].bytes) if rows else (0, 0)


async def test_usage_follows_writes_overwrites_deletes_and_reaping(tiered: TieredBackend) -> None:
    await tiered.put(oid("a"), meta(), chunked(pattern(100)))
    await tiered.put(oid("b"), meta(), chunked(pattern(LARGE)))
    assert await usage_of(tiered) == (2, 100 + LARGE)
    await tiered.put(oid("b"), meta(), chunked(pattern(50)))
    assert await usage_of(tiered) == (2, 150)
    await tiered.delete(oid("a"))
    assert await usage_of(tiered) == (1, 50)
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = meta(
        expiration_policy=TimeToLive(timedelta(seconds=1)),
        time_created=past,
        time_expires=past + timedelta(seconds=1),
    )
    await tiered.put(oid("c"), expired, chunked(pattern(70)))
    assert await usage_of(tiered) == (2, 120)
    assert await tiered.reap_expired(datetime.now(UTC), 10) == 1
    assert await usage_of(tiered) == (1, 50)


async def test_concurrent_writers_never_overshoot_the_object_quota(tiered: TieredBackend) -> None:
    quota = Quota(scope_max_objects=5)

    async def write(i: int) -> bool:
        try:
            await tiered.put(oid(f"k{i}"), meta(), chunked(pattern(10, i)), quota=quota)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(write(i) for i in range(20)))
    assert sum(results) == 5
    assert await usage_of(tiered) == (5, 50)


async def test_byte_quota_rejects_large_uploads_and_removes_their_blobs(
    tiered: TieredBackend, tmp_path: Path
) -> None:
    quota = Quota(max_bytes=2 * LARGE)

    async def write(i: int) -> bool:
        try:
            await tiered.put(oid(f"big{i}"), meta(), chunked(pattern(LARGE, i)), quota=quota)
        except QuotaExceeded as exc:
            limits.append(exc.figures["limit"])
            return False
        return True

    limits: list[object] = []
    results = await asyncio.gather(*(write(i) for i in range(5)))
    assert limits == [2 * LARGE] * 3
    assert sum(results) == 2
    await tiered.close()
    blobs = [p for p in (tmp_path / "lt").rglob("*") if p.is_file() and ".tmp" not in p.parts]
    assert len(blobs) == 2
    await tiered.open()


async def test_overwrite_that_shrinks_is_allowed_over_quota(tiered: TieredBackend) -> None:
    await tiered.put(oid("x"), meta(), chunked(pattern(1000)))
    quota = Quota(scope_max_bytes=10)
    await tiered.put(oid("x"), meta(), chunked(pattern(5)), quota=quota)
    with pytest.raises(QuotaExceeded) as info:
        await tiered.put(oid("y"), meta(), chunked(pattern(6)), quota=quota)
    assert info.value.figures["quota"] == "scope.max_bytes"
    assert info.value.figures["used"] == 5
