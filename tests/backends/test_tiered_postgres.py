"""The contract suite on tiered PostgreSQL + filesystem, against the real server."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from blobhouse.backends.base import Quota, QuotaExceeded
from blobhouse.backends.filesystem import FilesystemBackend
from blobhouse.backends.sql import SqlStore
from blobhouse.backends.tiered import TieredBackend
from tests.backends import postgres
from tests.backends.contract import LARGE, BackendContract, chunked, meta, oid, pattern


@pytest.fixture(scope="module")
def database() -> object:
    name = asyncio.run(postgres.create_database())
    yield name
    asyncio.run(postgres.drop_database(name))


@pytest.fixture
async def tiered(database: str, tmp_path: Path) -> AsyncIterator[TieredBackend]:
    url = postgres.sqlalchemy_url(database)
    backend = TieredBackend(SqlStore(url), FilesystemBackend(tmp_path / "lt", name="long_term"))
    await backend.open()
    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    await conn.execute("TRUNCATE objects, usage")
    await conn.close()
    yield backend
    await backend.close()


class TestTieredPostgresFilesystem(BackendContract):
    @pytest.fixture
    async def backend(self, tiered: TieredBackend) -> TieredBackend:
        return tiered


def _blobs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]


async def test_racing_first_writers_of_a_new_key_orphan_no_blob(
    tiered: TieredBackend, tmp_path: Path
) -> None:
    await asyncio.gather(
        *(tiered.put(oid("fresh"), meta(), chunked(pattern(LARGE, i))) for i in range(8))
    )
    await tiered.close()
    assert len(_blobs(tmp_path / "lt")) == 1
    await tiered.open()
    usage = await tiered.high_volume.usage("contract")
    assert [(u.objects, u.bytes) for u in usage] == [(1, LARGE)]


async def test_quota_holds_under_concurrent_writers(tiered: TieredBackend) -> None:
    quota = Quota(scope_max_objects=3)

    async def write(i: int) -> bool:
        try:
            await tiered.put(oid(f"q{i}"), meta(), chunked(pattern(10)), quota=quota)
        except QuotaExceeded:
            return False
        return True

    assert sum(await asyncio.gather(*(write(i) for i in range(12)))) == 3
