"""Zstandard on the way up (streaming compression) and down (multi-frame decompression).

Uploads compress as they stream, so a large file never sits in memory whole. Downloads
decompress across frame boundaries, because an object can be several concatenated
frames (multipart uploads compressed part by part) and a single-frame reader would
silently stop after the first one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import zstandard

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

__all__ = [
    "CHUNK_SIZE",
    "ByteCounts",
    "DecompressingReader",
    "compress",
    "compress_stream",
    "decompressing_reader",
    "read_chunks",
]

# Bytes read from a source per step: large enough to keep syscalls and chunk framing
# cheap, small enough that memory stays flat whatever the object size.
CHUNK_SIZE = 64 * 1024


@dataclass
class ByteCounts:
    """Bytes taken from the caller's source and bytes handed to the wire (for metrics)."""

    consumed: int = 0
    produced: int = 0


def compress(data: bytes) -> bytes:
    """Compress a whole in-memory payload into one frame.

    One-shot compression records the content size in the frame header, which lets
    readers size their buffers, and the result can be resent on a connect retry.
    """
    return zstandard.ZstdCompressor().compress(data)


def read_chunks(
    source: IO[bytes], counts: ByteCounts | None = None, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield ``source`` in chunks of at most ``chunk_size`` bytes until it is exhausted."""
    while True:
        block = source.read(chunk_size)
        if not block:
            return
        if counts is not None:
            counts.consumed += len(block)
            counts.produced += len(block)
        yield block


def compress_stream(
    source: bytes | IO[bytes], counts: ByteCounts | None = None, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield one zstd frame, compressed incrementally from ``source``.

    The source is read ``chunk_size`` bytes at a time and never rewound, so it may be a
    pipe or socket. Nothing is read until the iterator is first advanced: an HTTP client
    can retry a failed connect without having consumed the source.
    """
    reader: IO[bytes] = io.BytesIO(source) if isinstance(source, bytes) else source
    compressor = zstandard.ZstdCompressor().compressobj()
    for block in read_chunks(reader, None, chunk_size):
        if counts is not None:
            counts.consumed += len(block)
        out = compressor.compress(block)
        if out:
            if counts is not None:
                counts.produced += len(out)
            yield out
    tail = compressor.flush()
    if counts is not None:
        counts.produced += len(tail)
    yield tail


class DecompressingReader(io.RawIOBase):
    """A raw reader yielding the decompressed bytes of a stream of zstd frames.

    Wrap it in :class:`io.BufferedReader` (see :func:`decompressing_reader`) for
    ``readline``, iteration and efficient small reads. Closing it closes the source,
    which for an HTTP response hands the connection back (or drops it if unread).
    """

    def __init__(self, source: IO[bytes]) -> None:
        super().__init__()
        self._source = source
        self._reader = zstandard.ZstdDecompressor().stream_reader(
            source, read_across_frames=True, closefd=True
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count: int = self._reader.readinto(buffer)
        return count

    def close(self) -> None:
        if not self.closed:
            try:
                self._reader.close()  # type: ignore[no-untyped-call]
            finally:
                super().close()


def decompressing_reader(source: IO[bytes], buffer_size: int = CHUNK_SIZE) -> IO[bytes]:
    """A buffered, file-like view of the decompressed content of ``source``."""
    return io.BufferedReader(DecompressingReader(source), buffer_size=buffer_size)
