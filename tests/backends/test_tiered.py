from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blobhouse.backends.filesystem import FilesystemBackend
from blobhouse.backends.sql import SqlStore
from blobhouse.backends.tiered import TieredBackend
from tests.backends.contract import LARGE, BackendContract, chunked, meta, oid, pattern


def _blob_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts]


@pytest.fixture
async def tiered(tmp_path: Path) -> AsyncIterator[TieredBackend]:
    backend = TieredBackend(
        SqlStore(f"sqlite+aiosqlite:///{tmp_path}/hv.sqlite3"),
        FilesystemBackend(tmp_path / "lt", name="long_term"),
    )
    await backend.open()
    yield backend
    await backend.close()


class TestTieredSqliteFilesystem(BackendContract):
    @pytest.fixture
    async def backend(self, tiered: TieredBackend) -> TieredBackend:
        return tiered


async def test_small_objects_stay_inline_and_large_go_long_term(
    tiered: TieredBackend, tmp_path: Path
) -> None:
    await tiered.put(oid("small"), meta(), chunked(pattern(1 << 20)))  # exactly 1 MiB: inline
    assert _blob_files(tmp_path / "lt") == []
    await tiered.put(oid("large"), meta(), chunked(pattern((1 << 20) + 1)))
    assert len(_blob_files(tmp_path / "lt")) == 1


async def test_replaced_and_deleted_blobs_are_removed(
    tiered: TieredBackend, tmp_path: Path
) -> None:
    for i in range(3):
        await tiered.put(oid("big"), meta(), chunked(pattern(LARGE, i)))
    await tiered.close()  # waits for background cleanup
    assert len(_blob_files(tmp_path / "lt")) == 1
    await tiered.open()
    await tiered.put(oid("big"), meta(), chunked(b"small now"))
    await tiered.delete(oid("big"))
    await tiered.close()
    assert _blob_files(tmp_path / "lt") == []
    await tiered.open()


async def test_concurrent_large_writers_orphan_no_blob(
    tiered: TieredBackend, tmp_path: Path
) -> None:
    import asyncio

    await asyncio.gather(
        *(tiered.put(oid("race"), meta(), chunked(pattern(LARGE, i))) for i in range(6))
    )
    await tiered.close()
    assert len(_blob_files(tmp_path / "lt")) == 1
    await tiered.open()
