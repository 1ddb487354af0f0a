"""The asynchronous Blobhouse client (needs ``pip install 'blobhouse[async]'``)::

    from blobhouse import Usecase
    from blobhouse.aio import AsyncClient

    async with AsyncClient("http://localhost:8888") as client:
        session = client.session(Usecase("attachments"), org=42)
        key = await session.put(b"hello")
        result = await session.get(key)
        async for chunk in result.payload:
            ...
        results = await session.many().put(b"a", key="a").get("b").send()

A module of its own, so ``import blobhouse`` stays exactly the official client's shape
and never imports aiohttp.
"""

from blobhouse.client._aio import (
    AsyncClient,
    AsyncGetResponse,
    AsyncPayload,
    AsyncSession,
    Batch,
    BatchResult,
)

__all__ = [
    "AsyncClient",
    "AsyncGetResponse",
    "AsyncPayload",
    "AsyncSession",
    "Batch",
    "BatchResult",
]
