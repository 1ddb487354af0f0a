"""The backend contract: one suite every storage backend must pass unchanged.

fsspec-style: a test module subclasses :class:`BackendContract` and supplies a
``backend`` fixture that yields an opened backend on a real engine. Every rule a backend
promises in ``blobhouse.backends.base`` is checked here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from blobhouse.backends.base import Backend, ObjectExists, bytes_body
from blobhouse.core.expiration import TimeToIdle, TimeToLive
from blobhouse.core.ids import ObjectId, Scopes
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import RangeNotSatisfiable, RangeSpec

LARGE = 3 * 1024 * 1024 + 17  # above the tiering threshold, not a multiple of any chunk size


def oid(key: str, **scopes: object) -> ObjectId:
    return ObjectId.create("contract", Scopes.of(scopes or {"org": 1}), key)


def meta(**changes: object) -> Metadata:
    now = datetime.now(UTC)
    base = Metadata(
        content_type="text/plain; charset=utf-8",
        time_created=now,
    )
    return base.with_changes(**changes)


def pattern(size: int, seed: int = 0) -> bytes:
    block = bytes((i * 31 + seed) % 251 for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


async def chunked(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def failing_after(data: bytes, fail_at: int) -> AsyncIterator[bytes]:
    sent = 0
    for start in range(0, len(data), 65536):
        if sent >= fail_at:
            raise ConnectionResetError("client went away mid-upload")
        chunk = data[start : start + 65536]
        sent += len(chunk)
        yield chunk


async def read(
    backend: Backend, object_id: ObjectId, spec: RangeSpec | None = None
) -> bytes | None:
    stored = await backend.get(object_id, spec)
    return None if stored is None else await stored.read()


class BackendContract:
    """Subclass and provide a ``backend`` fixture."""

    # --- round trips ---------------------------------------------------------------

    async def test_put_then_get_returns_bytes_and_metadata(self, backend: Backend) -> None:
        written = meta(
            compression="zstd",
            expiration_policy=TimeToLive(timedelta(days=2)),
            time_expires=datetime.now(UTC) + timedelta(days=2),
            origin="10.0.0.1",
            filename="résumé.pdf",
            custom={"kind": "crash", "ünï": "cödé"},
        )
        stored = await backend.put(oid("k1"), written, bytes_body(b"hello ", b"world"))
        assert stored.size == 11
        got = await backend.get(oid("k1"))
        assert got is not None
        assert await got.read() == b"hello world"
        assert got.metadata == stored
        assert await backend.head(oid("k1")) == stored

    @pytest.mark.parametrize("size", [0, 1, 4096, LARGE])
    async def test_payload_of_any_size_round_trips(self, backend: Backend, size: int) -> None:
        data = pattern(size, seed=size % 7)
        stored = await backend.put(oid(f"size-{size}"), meta(), chunked(data))
        assert stored.size == size
        assert await read(backend, oid(f"size-{size}")) == data
        head = await backend.head(oid(f"size-{size}"))
        assert head is not None and head.size == size

    async def test_missing_object_is_none(self, backend: Backend) -> None:
        assert await backend.get(oid("nope")) is None
        assert await backend.head(oid("nope")) is None

    async def test_overwrite_replaces_payload_and_metadata(self, backend: Backend) -> None:
        for size in (LARGE, 10, LARGE + 5, 20):  # cross the tier boundary both ways
            await backend.put(oid("ow"), meta(origin=str(size)), chunked(pattern(size, size)))
            assert await read(backend, oid("ow")) == pattern(size, size)
            head = await backend.head(oid("ow"))
            assert head is not None and head.origin == str(size)

    # --- names and isolation -------------------------------------------------------

    @pytest.mark.parametrize(
        "key",
        [
            "a/b/c",
            "with space",
            "café",
            "emoji-😀",
            "100%literal",
            "semi;colon=eq",
            ".",
            "..",
            "x" * 1024,
            "/leading",
            "trailing/",
        ],
    )
    async def test_awkward_keys_round_trip(self, backend: Backend, key: str) -> None:
        await backend.put(oid(key), meta(), bytes_body(key.encode()))
        assert await read(backend, oid(key)) == key.encode()

    async def test_key_and_its_nested_key_coexist(self, backend: Backend) -> None:
        await backend.put(oid("dir"), meta(), bytes_body(b"parent"))
        await backend.put(oid("dir/child"), meta(), bytes_body(b"child"))
        assert await read(backend, oid("dir")) == b"parent"
        assert await read(backend, oid("dir/child")) == b"child"

    async def test_scopes_and_usecases_are_separate_namespaces(self, backend: Backend) -> None:
        await backend.put(oid("same", org=1), meta(), bytes_body(b"one"))
        await backend.put(oid("same", org=2), meta(), bytes_body(b"two"))
        other = ObjectId.create("other-usecase", Scopes.of(org=1), "same")
        assert await read(backend, oid("same", org=1)) == b"one"
        assert await read(backend, oid("same", org=2)) == b"two"
        assert await read(backend, other) is None
        assert await read(backend, ObjectId.create("contract", Scopes(), "same")) is None

    # --- delete --------------------------------------------------------------------

    @pytest.mark.parametrize("size", [5, LARGE])
    async def test_delete_is_idempotent(self, backend: Backend, size: int) -> None:
        await backend.put(oid("del"), meta(), chunked(pattern(size)))
        assert await backend.delete(oid("del")) is True
        assert await backend.get(oid("del")) is None
        assert await backend.delete(oid("del")) is False

    # --- ranges --------------------------------------------------------------------

    @pytest.mark.parametrize("size", [22, LARGE])
    async def test_ranges_address_stored_bytes(self, backend: Backend, size: int) -> None:
        data = pattern(size, 3)
        await backend.put(oid("rng"), meta(), chunked(data))
        cases = [
            (RangeSpec(first=0, last=4), 0, 4),
            (RangeSpec(suffix=9), size - 9, size - 1),
            (RangeSpec(first=7), 7, size - 1),
            (RangeSpec(first=3, last=size + 100), 3, size - 1),
        ]
        for spec, start, end in cases:
            got = await backend.get(oid("rng"), spec)
            assert got is not None and got.range is not None
            assert (got.range.start, got.range.end, got.range.total) == (start, end, size)
            assert await got.read() == data[start : end + 1]
        with pytest.raises(RangeNotSatisfiable) as info:
            await backend.get(oid("rng"), RangeSpec(first=size))
        assert info.value.total == size

    # --- create-only ---------------------------------------------------------------

    @pytest.mark.parametrize("size", [3, LARGE])
    async def test_if_absent_refuses_live_object(self, backend: Backend, size: int) -> None:
        await backend.put(oid("once"), meta(), bytes_body(b"first"), if_absent=True)
        with pytest.raises(ObjectExists):
            await backend.put(oid("once"), meta(), chunked(pattern(size)), if_absent=True)
        assert await read(backend, oid("once")) == b"first"

    async def test_if_absent_replaces_expired_object(self, backend: Backend) -> None:
        past = datetime.now(UTC) - timedelta(seconds=5)
        expired = meta(
            expiration_policy=TimeToLive(timedelta(seconds=1)),
            time_created=past,
            time_expires=past + timedelta(seconds=1),
        )
        await backend.put(oid("stale"), expired, bytes_body(b"old"))
        await backend.put(oid("stale"), meta(), bytes_body(b"new"), if_absent=True)
        assert await read(backend, oid("stale")) == b"new"

    # --- expiry --------------------------------------------------------------------

    async def test_expired_object_is_not_served(self, backend: Backend) -> None:
        past = datetime.now(UTC) - timedelta(minutes=1)
        expired = meta(
            expiration_policy=TimeToLive(timedelta(seconds=30)),
            time_created=past,
            time_expires=past + timedelta(seconds=30),
        )
        await backend.put(oid("gone"), expired, bytes_body(b"x"))
        assert await backend.get(oid("gone")) is None
        assert await backend.head(oid("gone")) is None

    async def test_set_expiry_moves_deadline_later_never_earlier(self, backend: Backend) -> None:
        now = datetime.now(UTC)
        deadline = now + timedelta(hours=1)
        written = meta(
            expiration_policy=TimeToIdle(timedelta(hours=1)),
            time_created=now,
            time_expires=deadline,
        )
        await backend.put(oid("tti"), written, bytes_body(b"x"))
        await backend.set_expiry(oid("tti"), deadline + timedelta(hours=2))
        head = await backend.head(oid("tti"))
        assert head is not None and head.time_expires == deadline + timedelta(hours=2)
        await backend.set_expiry(oid("tti"), deadline)
        head = await backend.head(oid("tti"))
        assert head is not None and head.time_expires == deadline + timedelta(hours=2)

    async def test_set_expiry_with_policy_extends_a_ttl(self, backend: Backend) -> None:
        now = datetime.now(UTC).replace(microsecond=0)
        written = meta(
            expiration_policy=TimeToLive(timedelta(days=1)),
            time_created=now,
            time_expires=now + timedelta(days=1),
        )
        await backend.put(oid("ttl"), written, bytes_body(b"keep me"))
        longer = TimeToLive(timedelta(days=30))
        assert await backend.set_expiry(oid("ttl"), now + timedelta(days=30), longer) is True
        head = await backend.head(oid("ttl"))
        assert head is not None
        assert head.expiration_policy == longer
        assert head.time_expires == now + timedelta(days=30)
        assert await backend.set_expiry(oid("ttl"), now + timedelta(days=2), longer) is False
        assert await read(backend, oid("ttl")) == b"keep me"

    async def test_reaper_removes_only_expired_objects(self, backend: Backend) -> None:
        past = datetime.now(UTC) - timedelta(minutes=1)
        for index, size in enumerate((10, LARGE, 10)):
            expired = meta(
                expiration_policy=TimeToLive(timedelta(seconds=1)),
                time_created=past,
                time_expires=past + timedelta(seconds=1),
            )
            await backend.put(oid(f"reap-{index}"), expired, chunked(pattern(size)))
        await backend.put(oid("keep"), meta(), bytes_body(b"keep"))
        removed = 0
        for _ in range(10):
            batch = await backend.reap_expired(datetime.now(UTC), 2)
            removed += batch
            if batch == 0:
                break
        assert removed == 3
        assert await read(backend, oid("keep")) == b"keep"
        for index in range(3):
            assert await backend.delete(oid(f"reap-{index}")) is False

    # --- failure atomicity -----------------------------------------------------------

    @pytest.mark.parametrize("size", [200_000, LARGE])
    async def test_interrupted_upload_leaves_previous_object(
        self, backend: Backend, size: int
    ) -> None:
        await backend.put(oid("atomic"), meta(), bytes_body(b"previous"))
        with pytest.raises(ConnectionResetError):
            await backend.put(oid("atomic"), meta(), failing_after(pattern(size), size // 2))
        assert await read(backend, oid("atomic")) == b"previous"
        with pytest.raises(ConnectionResetError):
            await backend.put(oid("fresh"), meta(), failing_after(pattern(size), size // 2))
        assert await backend.get(oid("fresh")) is None

    async def test_concurrent_writers_leave_one_complete_object(self, backend: Backend) -> None:
        sizes = [LARGE, 100, LARGE + 1, 200, LARGE + 2, 300]
        await asyncio.gather(
            *(
                backend.put(oid("race"), meta(origin=str(i)), chunked(pattern(size, i)))
                for i, size in enumerate(sizes)
            )
        )
        head = await backend.head(oid("race"))
        assert head is not None and head.origin is not None
        winner = int(head.origin)
        assert await read(backend, oid("race")) == pattern(sizes[winner], winner)
