"""Objects as files under one directory.

Layout: ``<root>/<usecase>/<name>.<value>/.../objects/<encoded key>``. The key is
percent-encoded into a single file name (so ``a`` and ``a/b`` never fight over a path),
and keys too long for a file name are stored under a hash of the key. Each file starts
with one JSON line of metadata, then the payload.

A write goes to ``<root>/.tmp/``, is fsynced, renamed over the target and the directory
is fsynced: after ``put`` returns the object survives a crash, and before it returns
nothing partial is ever visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from blobhouse.backends.base import Backend, BackendError, Body, ObjectExists, Quota, StoredObject
from blobhouse.backends.records import (
    dumps,
    metadata_from_record,
    metadata_to_record,
    policy_to_columns,
    to_micros,
)
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import ObjectId
from blobhouse.core.metadata import Metadata
from blobhouse.core.ranges import RangeSpec

__all__ = ["FilesystemBackend"]

_TMP_DIR = ".tmp"
_MAX_NAME_BYTES = 200
_MAX_HEADER_BYTES = 1 << 20
_FLUSH_BYTES = 1 << 20
_READ_CHUNK = 1 << 20
_SMALL_READ = 256 << 10
_STALE_TMP_SECONDS = 24 * 3600


def _file_name(key: str) -> str:
    name = quote(key, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name.encode()) > _MAX_NAME_BYTES:
        name = "#h-" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_dir(path: Path) -> None:
    """Create ``path`` and fsync the parent of every level created, so the entry lasts."""
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        probe = probe.parent
    for level in reversed(missing):
        with contextlib.suppress(FileExistsError):
            level.mkdir()
        _fsync_dir(level.parent)


def _read_header(handle: IO[bytes]) -> tuple[dict[str, Any], int]:
    line = handle.readline(_MAX_HEADER_BYTES)
    if not line.endswith(b"\n"):
        raise ValueError("object file has no metadata header")
    return json.loads(line), len(line)


class FilesystemBackend(Backend):
    def __init__(self, root: str | os.PathLike[str], name: str = "filesystem") -> None:
        self.root = Path(root)
        self.name = name
        self._tmp = self.root / _TMP_DIR

    # --- paths ----------------------------------------------------------------------

    def path_of(self, object_id: ObjectId) -> Path:
        parts = [object_id.usecase]
        parts += [f"{name}.{value}" for name, value in object_id.scopes]
        return self.root.joinpath(*parts, "objects", _file_name(object_id.key))

    async def open(self) -> None:
        await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> None:
        try:
            _ensure_dir(self._tmp)
        except OSError as exc:
            raise BackendError(self.name, f"cannot create {self._tmp}: {exc}") from exc
        cutoff = time.time() - _STALE_TMP_SECONDS
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(OSError):
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()

    # --- writes ---------------------------------------------------------------------

    async def put(
        self,
        object_id: ObjectId,
        metadata: Metadata,
        body: Body,
        *,
        if_absent: bool = False,
        quota: Quota | None = None,
    ) -> Metadata:
        record = _fixed_width(metadata_to_record(metadata))
        record["id"] = [object_id.usecase, str(object_id.scopes), object_id.key]
        header = dumps(record).encode() + b"\n"
        target = self.path_of(object_id)
        tmp = self._tmp / f"{uuid.uuid4().hex}.part"
        buffer = bytearray(header)
        handle: IO[bytes] | None = None
        written = 0
        try:
            async for chunk in body:
                buffer += chunk
                if len(buffer) >= _FLUSH_BYTES:
                    if handle is None:
                        handle = await asyncio.to_thread(open, tmp, "xb")
                    data = bytes(buffer)
                    buffer.clear()
                    await asyncio.to_thread(handle.write, data)
                    written += len(data)
            total = written + len(buffer)
            await asyncio.to_thread(
                self._commit, handle, tmp, bytes(buffer), target, if_absent, metadata
            )
            handle = None
        except BaseException:
            await asyncio.shield(asyncio.to_thread(_discard, handle, tmp))
            raise
        return replace(metadata, size=total - len(header))

    def _commit(
        self,
        handle: IO[bytes] | None,
        tmp: Path,
        tail: bytes,
        target: Path,
        if_absent: bool,
        metadata: Metadata,
    ) -> None:
        if handle is None:
            handle = open(tmp, "xb")  # noqa: SIM115 - closed below
        try:
            handle.write(tail)
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            handle.close()
        _ensure_dir(target.parent)
        if if_absent:
            try:
                os.link(tmp, target)
            except FileExistsError:
                now = metadata.time_created or datetime.now(UTC)
                current = self._read_meta(target)
                if current is not None and not current.is_expired(now):
                    raise ObjectExists(str(target)) from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
        else:
            os.replace(tmp, target)
        _fsync_dir(target.parent)

    async def delete(self, object_id: ObjectId) -> bool:
        return await asyncio.to_thread(self._delete_sync, self.path_of(object_id))

    def _delete_sync(self, path: Path) -> bool:
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        _fsync_dir(path.parent)
        return True

    async def set_expiry(
        self,
        object_id: ObjectId,
        time_expires: datetime,
        policy: ExpirationPolicy | None = None,
    ) -> bool:
        path = self.path_of(object_id)
        return await asyncio.to_thread(self._set_expiry_sync, path, time_expires, policy)

    def _set_expiry_sync(
        self, path: Path, time_expires: datetime, policy: ExpirationPolicy | None
    ) -> bool:
        """Patch the header in place: deadlines and durations are fixed-width numbers, so
        the header keeps its length and the payload is never rewritten."""
        try:
            handle = open(path, "r+b")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return False
        with handle:
            record, length = _read_header(handle)
            current = record.get("te")
            new = to_micros(time_expires)
            if current is None or int(current) >= new:
                return False
            record["te"] = f"{new:0{_WIDTH}d}"
            if policy is not None:
                kind, micros = policy_to_columns(policy)
                record["ek"] = kind
                record["ed"] = f"{micros:0{_WIDTH}d}"
            header = dumps(record).encode() + b"\n"
            if len(header) != length:
                raise BackendError(self.name, f"cannot patch the header of {path} in place")
            handle.seek(0)
            handle.write(header)
            handle.flush()
            os.fsync(handle.fileno())
            return True

    # --- reads ----------------------------------------------------------------------

    def _read_meta(self, path: Path) -> Metadata | None:
        try:
            with open(path, "rb") as handle:
                record, length = _read_header(handle)
                size = os.fstat(handle.fileno()).st_size - length
        except FileNotFoundError:
            return None
        return metadata_from_record(record, size)

    async def head(self, object_id: ObjectId) -> Metadata | None:
        meta = await asyncio.to_thread(self._read_meta, self.path_of(object_id))
        if meta is None or meta.is_expired(datetime.now(UTC)):
            return None
        return meta

    async def get(
        self, object_id: ObjectId, byte_range: RangeSpec | None = None
    ) -> StoredObject | None:
        opened = await asyncio.to_thread(self._open_for_read, self.path_of(object_id), byte_range)
        if opened is None:
            return None
        meta, handle, start, length, small, resolved = opened
        if meta.is_expired(datetime.now(UTC)):
            if handle is not None:
                handle.close()
            return None
        if small is not None:
            return StoredObject(meta, _one_chunk(small), resolved)
        assert handle is not None
        return StoredObject(meta, _stream_file(handle, start, length), resolved)

    def _open_for_read(
        self, path: Path, byte_range: RangeSpec | None
    ) -> tuple[Metadata, IO[bytes] | None, int, int, bytes | None, Any] | None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - handed to the stream
        except FileNotFoundError:
            return None
        try:
            record, header_len = _read_header(handle)
            size = os.fstat(handle.fileno()).st_size - header_len
            meta = metadata_from_record(record, size)
            resolved = None
            start, length = header_len, size
            if byte_range is not None:
                resolved = byte_range.resolve(size)
                start, length = header_len + resolved.start, resolved.length
            if length <= _SMALL_READ:
                handle.seek(start)
                data = handle.read(length)
                handle.close()
                return meta, None, start, length, data, resolved
            return meta, handle, start, length, None, resolved
        except BaseException:
            handle.close()
            raise

    # --- expiry ---------------------------------------------------------------------

    async def reap_expired(self, now: datetime, limit: int) -> int:
        return await asyncio.to_thread(self._reap_sync, now, limit)

    def _reap_sync(self, now: datetime, limit: int) -> int:
        removed = 0
        for dirpath, dirnames, filenames in os.walk(self.root):
            if Path(dirpath) == self.root and _TMP_DIR in dirnames:
                dirnames.remove(_TMP_DIR)
            if Path(dirpath).name != "objects":
                continue
            for filename in filenames:
                path = Path(dirpath, filename)
                with contextlib.suppress(OSError, ValueError):
                    meta = self._read_meta(path)
                    if meta is not None and meta.is_expired(now):
                        self._delete_sync(path)
                        removed += 1
                        if removed >= limit:
                            return removed
        return removed


_WIDTH = 20  # digits: microsecond deadlines and durations for the next 3,000 centuries


def _fixed_width(record: dict[str, Any]) -> dict[str, Any]:
    """Store deadline and duration as fixed-width strings so they can be patched in place."""
    for name in ("te", "ed"):
        if record.get(name) is not None:
            record[name] = f"{int(record[name]):0{_WIDTH}d}"
    return record


def _discard(handle: IO[bytes] | None, tmp: Path) -> None:
    if handle is not None:
        handle.close()
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


async def _stream_file(handle: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await asyncio.to_thread(handle.read, min(_READ_CHUNK, remaining))
            if not chunk:
                raise BackendError("filesystem", "object file shrank while being read")
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()
