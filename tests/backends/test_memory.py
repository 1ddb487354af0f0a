from collections.abc import AsyncIterator

import pytest

from blobhouse.backends.memory import MemoryBackend
from tests.backends.contract import BackendContract


class TestMemoryBackend(BackendContract):
    @pytest.fixture
    async def backend(self) -> AsyncIterator[MemoryBackend]:
        backend = MemoryBackend()
        await backend.open()
        yield backend
        await backend.close()
