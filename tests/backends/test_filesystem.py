import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blobhouse.backends.base import bytes_body
from blobhouse.backends.filesystem import FilesystemBackend
from tests.backends.contract import BackendContract, meta, oid


class TestFilesystemBackend(BackendContract):
    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[FilesystemBackend]:
        backend = FilesystemBackend(tmp_path / "objects")
        await backend.open()
        yield backend
        await backend.close()


async def test_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    backend = FilesystemBackend(tmp_path)
    await backend.open()

    async def broken():  # type: ignore[no-untyped-def]
        yield b"x" * (2 << 20)
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await backend.put(oid("k"), meta(), broken())
    assert os.listdir(tmp_path / ".tmp") == []


async def test_object_files_live_under_the_spec_storage_path(tmp_path: Path) -> None:
    backend = FilesystemBackend(tmp_path)
    await backend.open()
    await backend.put(oid("a/b", org=17, project=42), meta(), bytes_body(b"x"))
    assert (tmp_path / "contract" / "org.17" / "project.42" / "objects" / "a%2Fb").is_file()
