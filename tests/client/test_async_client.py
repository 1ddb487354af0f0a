"""The async client against a real server: the sync client's surface, streams and batching."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import zstandard

from blobhouse import Client, RequestError, TimeToIdle, TimeToLive, Usecase
from blobhouse.aio import AsyncClient, AsyncSession
from tests.conftest import MakeServer
from tests.servers import ServerProcess

AWKWARD_KEYS = ["plain", "nested/path", "with space", "ünï", "emoji-🦀", "100%", "a;b=c", "x?y#z"]


@pytest.fixture
async def session(blobhouse_server: ServerProcess) -> AsyncIterator[AsyncSession]:
    async with AsyncClient(blobhouse_server.url) as client:
        yield client.session(Usecase("asyncclient"), org=uuid.uuid4().int % 10**9)


async def test_put_get_head_delete_round_trip(session: AsyncSession) -> None:
    key = await session.put(
        b"hello async",
        key="greeting",
        content_type="text/plain",
        metadata={"colour": "blåå"},
        origin="10.0.0.1",
        filename="hé.txt",
        expiration_policy=TimeToLive(timedelta(days=2)),
    )
    assert key == "greeting"
    result = await session.get(key)
    assert result is not None
    assert await result.payload.read() == b"hello async"
    meta = result.metadata
    assert meta.content_type == "text/plain"
    assert meta.custom == {"colour": "blåå"}
    assert (meta.origin, meta.filename) == ("10.0.0.1", "hé.txt")
    assert meta.expiration_policy == TimeToLive(timedelta(days=2))
    assert meta.compression is None  # decompressed for us

    head = await session.head(key)
    assert head is not None and head.compression == "zstd"  # stored compressed by default
    await session.delete(key)
    await session.delete(key)  # idempotent
    assert await session.get(key) is None
    assert await session.head(key) is None


async def test_server_generated_keys_and_awkward_keys(session: AsyncSession) -> None:
    generated = await session.put(b"anon")
    assert str(uuid.UUID(generated)) == generated
    for key in AWKWARD_KEYS:
        assert await session.put(key.encode(), key=key) == key
        result = await session.get(key)
        assert result is not None
        assert await result.payload.read() == key.encode()


async def test_objects_interoperate_with_the_sync_client(
    session: AsyncSession, blobhouse_server: ServerProcess
) -> None:
    with Client(blobhouse_server.url) as client:
        sync = client.session(Usecase("asyncclient"), **dict(session.scopes))
        sync.put(b"from sync", key="s", expiration_policy=TimeToIdle(timedelta(days=1)))
        await session.put(b"from async", key="a", compress="none")
        got = sync.get("a")
        assert got is not None and got.payload.read() == b"from async"
    result = await session.get("s")
    assert result is not None
    assert await result.payload.read() == b"from sync"
    assert result.metadata.expiration_policy == TimeToIdle(timedelta(days=1))


async def test_large_streams_both_ways(session: AsyncSession) -> None:
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    count = 160  # 10 MiB

    async def produce() -> AsyncIterator[bytes]:
        for index in range(count):
            yield index.to_bytes(4, "big") + block[4:]

    expected = hashlib.sha256()
    async for chunk in produce():
        expected.update(chunk)
    await session.put(produce(), key="big")
    result = await session.get("big")
    assert result is not None
    received = hashlib.sha256()
    size = 0
    async for chunk in result.payload:
        received.update(chunk)
        size += len(chunk)
    assert size == count * len(block)
    assert received.hexdigest() == expected.hexdigest()

    # A binary file streams too, uncompressed on request.
    await session.put(io.BytesIO(b"f" * 300_000), key="file", compress="none")
    head = await session.head("file")
    assert head is not None and head.compression is None and head.size == 300_000


async def test_multi_frame_zstd_is_decompressed_whole(session: AsyncSession) -> None:
    frames = b"".join(zstandard.ZstdCompressor().compress(part) for part in (b"one ", b"two"))
    await session.put(frames, key="frames", precompressed="zstd")
    result = await session.get("frames")
    assert result is not None and await result.payload.read() == b"one two"
    raw = await session.get("frames", decompress=False)
    assert raw is not None and await raw.payload.read() == frames


async def test_byte_range_returns_the_stored_slice(session: AsyncSession) -> None:
    await session.put(b"0123456789", key="digits", compress="none")
    result = await session.get("digits", byte_range=(2, 5))
    assert result is not None and await result.payload.read() == b"2345"


async def test_errors_carry_status_and_server_message(session: AsyncSession) -> None:
    await session.put(b"x", key="once")
    with pytest.raises(RequestError) as raised:
        await session.put(b"y", key="once", if_absent=True)
    assert raised.value.status == 412
    assert "exists" in str(raised.value)


async def test_connect_failures_are_retried_then_raised() -> None:
    async with AsyncClient("http://127.0.0.1:9", retries=1) as client:
        session = client.session(Usecase("asyncclient"), org=1)
        with pytest.raises(OSError, match=r"127\.0\.0\.1"):  # ClientConnectorError is an OSError
            await session.get("k")


async def test_many_runs_small_and_large_operations_in_order(session: AsyncSession) -> None:
    big = hashlib.sha256(b"big").digest() * 70_000  # 2.2 MiB of incompressible-ish bytes
    big = bytes(b ^ (i % 251) for i, b in enumerate(big[:2_300_000]))
    batch = session.many()
    for n in range(5):
        batch.put(f"value {n}".encode(), key=f"k{n}", metadata={"n": str(n)})
    batch.put(big, key="large")  # too large for a batch part: sent on its own
    batch.put(b"generated")  # server-assigned key
    results = await batch.send()
    assert [r.status for r in results] == [201] * 7
    assert [r.key for r in results[:6]] == [f"k{n}" for n in range(5)] + ["large"]
    generated = results[6].key
    assert generated is not None and str(uuid.UUID(generated)) == generated

    reads = session.many().get("k3").head("k1").get("missing").get("large").delete("k0")
    got, head, missing, large, deleted = await reads.send()
    assert (got.status, got.payload, got.metadata and got.metadata.custom) == (
        200,
        b"value 3",
        {"n": "3"},
    )
    assert head.status == 204 and head.metadata is not None and head.metadata.custom == {"n": "1"}
    assert (missing.status, missing.found, missing.payload) == (404, False, None)
    assert large.payload == big
    assert deleted.status == 204
    assert await session.head("k0") is None


async def test_many_splits_past_one_thousand_operations(session: AsyncSession) -> None:
    batch = session.many()
    for n in range(1203):
        batch.put(b"%d" % n, key=f"n{n}", compress="none")
    results = await batch.send()
    assert len(results) == 1203 and {r.status for r in results} == {201}
    checks = await session.many().get("n0").get("n1000").get("n1202").send()
    assert [r.payload for r in checks] == [b"0", b"1000", b"1202"]


async def test_a_failing_operation_does_not_fail_the_batch(make_server: MakeServer) -> None:
    server = make_server({"usecases": {"strict": {"expiration": {"manual": {"allowed": False}}}}})
    async with AsyncClient(server.url) as client:
        session = client.session(Usecase("strict"), org=1)
        day = TimeToLive(timedelta(days=1))
        results = (
            await session.many()
            .put(b"ok", key="fine", expiration_policy=day)
            .put(b"x", key="forever")
            .send()
        )
    assert results[0].status == 201
    assert results[1].status == 400
    assert results[1].error is not None and results[1].error.status == 400
    assert "manual" in str(results[1].error)
