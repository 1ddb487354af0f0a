"""Streaming zstd compression for uploads and multi-frame decompression for downloads."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
import zstandard

from blobhouse.client._compression import (
    CHUNK_SIZE,
    ByteCounts,
    compress,
    compress_stream,
    decompressing_reader,
    read_chunks,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


def frames(*parts: bytes) -> bytes:
    return b"".join(zstandard.ZstdCompressor().compress(part) for part in parts)


class Trickle(io.BytesIO):
    """A source that hands out at most ``step`` bytes per read, like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self._step = step
        self.closed_by_reader = False

    def read(self, size: int | None = -1, /) -> bytes:
        limit = self._step if size is None or size < 0 else min(size, self._step)
        return super().read(limit)

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.closed_by_reader = True
        super().close()


def test_reader_continues_across_frame_boundaries() -> None:
    parts = [b"alpha " * 1000, b"", b"beta " * 5000, b"gamma"]
    reader = decompressing_reader(io.BytesIO(frames(*parts)))
    assert reader.read() == b"".join(parts)


def test_reader_handles_a_source_that_trickles_single_bytes() -> None:
    parts = [b"one", b"two" * 300, b"three"]
    reader = decompressing_reader(Trickle(frames(*parts), step=1))
    assert reader.read() == b"".join(parts)


def test_small_reads_reassemble_the_content() -> None:
    parts = [bytes(range(256)) * 40, b"tail"]
    reader = decompressing_reader(io.BytesIO(frames(*parts)))
    pieces = []
    while piece := reader.read(7):
        pieces.append(piece)
    assert b"".join(pieces) == b"".join(parts)
    assert all(len(piece) <= 7 for piece in pieces)


def test_reader_supports_readline_and_iteration() -> None:
    reader = decompressing_reader(io.BytesIO(frames(b"a\nb", b"c\n", b"d")))
    assert reader.readline() == b"a\n"
    assert list(reader) == [b"bc\n", b"d"]


def test_empty_stream_reads_as_empty() -> None:
    assert decompressing_reader(io.BytesIO(b"")).read() == b""
    assert decompressing_reader(io.BytesIO(frames(b""))).read() == b""


def test_closing_the_reader_closes_the_source() -> None:
    source = Trickle(frames(b"data"), step=100)
    reader = decompressing_reader(source)
    reader.close()
    assert source.closed_by_reader
    with pytest.raises(ValueError, match="closed"):
        reader.read()


def test_garbage_is_reported_as_a_zstd_error() -> None:
    with pytest.raises(zstandard.ZstdError):
        decompressing_reader(io.BytesIO(b"definitely not zstd")).read()


def test_streamed_compression_round_trips_and_counts_bytes() -> None:
    payload = b"blobhouse " * 100_000
    counts = ByteCounts()

    compressed = b"".join(compress_stream(io.BytesIO(payload), counts))

    assert decompressing_reader(io.BytesIO(compressed)).read() == payload
    assert counts == ByteCounts(consumed=len(payload), produced=len(compressed))
    assert len(compressed) < len(payload) // 10


def test_streamed_compression_accepts_bytes() -> None:
    assert decompressing_reader(io.BytesIO(b"".join(compress_stream(b"abc")))).read() == b"abc"


def test_streamed_compression_reads_nothing_until_iterated() -> None:
    source = io.BytesIO(b"untouched")
    chunks = compress_stream(source)
    assert source.tell() == 0
    next(chunks)
    assert source.tell() == len(b"untouched")


def test_streamed_compression_of_empty_input_is_one_empty_frame() -> None:
    compressed = b"".join(compress_stream(io.BytesIO(b"")))
    assert compressed
    assert decompressing_reader(io.BytesIO(compressed)).read() == b""


def test_one_shot_compression_records_the_content_size() -> None:
    compressed = compress(b"x" * 1000)
    assert zstandard.frame_content_size(compressed) == 1000
    assert zstandard.ZstdDecompressor().decompress(compressed) == b"x" * 1000


def test_read_chunks_never_asks_for_more_than_a_chunk() -> None:
    payload = b"z" * (CHUNK_SIZE * 3 + 5)
    chunks = list(read_chunks(io.BytesIO(payload)))
    assert b"".join(chunks) == payload
    assert [len(chunk) for chunk in chunks] == [CHUNK_SIZE] * 3 + [5]
