"""Resumable uploads, client side (spec §22.4): the decisions, shared by both clients.

A put whose size is known and at least the threshold (256 MiB by default, as in
objectstore-client 0.2.10) creates an upload session, sends the body from an offset,
and on a dropped connection or a transient answer asks the server how much it holds
and continues from there. Anything going wrong while *creating* the session falls
back to an ordinary upload, so old servers keep working; once a session exists, a
fatal answer cancels it and raises.

The sync and async sessions own the I/O; this module decides what each answer means.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Literal

import zstandard

from blobhouse.client._compression import CHUNK_SIZE

__all__ = [
    "DEFAULT_RESUMABLE_THRESHOLD",
    "MAX_STALLS",
    "Answer",
    "Threshold",
    "backoff_seconds",
    "check_threshold",
    "classify",
    "goes_resumable",
    "parse_created",
    "remaining_size",
    "spool_compressed",
]

DEFAULT_RESUMABLE_THRESHOLD = 256 << 20
MAX_STALLS = 3  # transient failures in a row without progress before giving up
TRANSIENT = frozenset({408, 429, 502, 503, 504})

Threshold = int | Literal["none"]


def check_threshold(value: object) -> Threshold:
    if value == "none":
        return "none"
    if type(value) is not int or value < 0:
        raise ValueError(f"resumable_threshold_bytes must be an int >= 0 or 'none', got {value!r}")
    return value


def remaining_size(contents: object) -> int | None:
    """Bytes left to send: ``len`` of bytes, the rest of a seekable stream, else None."""
    if isinstance(contents, bytes | bytearray | memoryview):
        return len(contents)
    seekable = getattr(contents, "seekable", None)
    if not callable(seekable) or not seekable():
        return None
    stream: IO[bytes] = contents  # type: ignore[assignment]
    here = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(here)
    return end - here


def goes_resumable(size: int | None, threshold: Threshold) -> bool:
    return threshold != "none" and size is not None and size >= threshold


def spool_compressed(source: bytes | IO[bytes], spool_dir: str | None) -> IO[bytes]:
    """Compress ``source`` into a temporary file (one zstd frame): its length must be
    announced before the first byte is sent. The file deletes itself when closed."""
    spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - returned open
    try:
        reader = io.BytesIO(source) if isinstance(source, bytes) else source
        zstandard.ZstdCompressor().copy_stream(reader, spool, read_size=CHUNK_SIZE)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def parse_created(status: int, answer: object) -> tuple[str, str] | None:
    """``(key, session)`` of a create answer, or None to fall back to an ordinary put."""
    if status >= 400 or not isinstance(answer, dict):
        return None
    key, session = answer.get("key"), answer.get("session")
    if not isinstance(key, str) or not key or not isinstance(session, str) or not session:
        return None
    return key, session


@dataclass(frozen=True)
class Answer:
    """What a data or probe answer means."""

    kind: Literal["complete", "progress", "transient", "fatal"]
    offset: int = 0


def classify(
    status: int,
    headers: Mapping[str, str] | Callable[[str], str | None],
    offset: int,
    total: int,
    *,
    probe: bool,
) -> Answer:
    """Map a data/probe answer to the next step (spec §22.4's table).

    A data answer that reports no progress counts as transient; an offset outside
    ``offset..total`` is fatal (the server lost track).
    """
    get = headers if callable(headers) else headers.get
    if status == 201:
        return Answer("complete", total)
    if status in TRANSIENT:
        return Answer("transient", offset)
    reported = get("upload-offset")
    if status == 409 and reported is not None and reported.isdigit():
        new = int(reported)
        if not 0 <= new <= total:
            return Answer("fatal", offset)
        return Answer("transient" if new == offset and not probe else "progress", new)
    if status >= 400 or reported is None or not reported.isdigit():
        return Answer("fatal", offset)
    new = int(reported)
    if new > total or (not probe and new < offset):
        return Answer("fatal", offset)
    if new == offset and not probe:
        return Answer("transient", offset)
    return Answer("progress", new)


def backoff_seconds(stalls: int) -> float:
    """Wait before retrying after the ``stalls``-th transient failure in a row."""
    return min(0.5 * 2.0**stalls, 4.0) + random.uniform(0, 0.25)
