"""Resumable uploads (objectstore-client 0.2.10, spec §22.4–§22.6), independent of HTTP.

A session is a directory under the staging root named by its token: a manifest (owner,
metadata, total length, state) and a data file the bytes are appended to. The data
file's fsynced length is the offset the server reports, so an upload cut off midway
keeps what arrived and resumes from there. When the last byte lands, the data file is
streamed into an ordinary insert (the object appears atomically, quotas and all) and
the session is marked committed, and kept a while so a client whose final answer was
lost still learns the upload completed.

State lives on disk, not in memory, so every worker process of one server sees the
same sessions; a per-session ``flock`` keeps two requests of one session from writing
at once (the second gets :class:`SessionBusy`, which the HTTP layer answers 503, a
transient status the client retries). Several *servers* need the staging directory on
shared storage for a session to survive landing on another instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from blobhouse.backends.records import metadata_from_record, metadata_to_record
from blobhouse.core.ids import ObjectId
from blobhouse.core.metadata import Metadata
from blobhouse.service.storage import StorageService

__all__ = [
    "OffsetMismatch",
    "Progress",
    "ResumableUploads",
    "SessionBusy",
    "SessionExpired",
    "UnknownSession",
    "UploadTooLong",
]

_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_FLUSH_BYTES = 1 << 20
_READ_CHUNK = 1 << 20


class UnknownSession(LookupError):
    """No such session for this object (never created, cancelled or swept)."""


class SessionExpired(LookupError):
    """The session was abandoned for longer than the configured age."""


class SessionBusy(Exception):
    """Another request of the same session is in progress."""


class OffsetMismatch(Exception):
    def __init__(self, persisted: int) -> None:
        super().__init__(f"upload offset mismatch; the server holds {persisted} bytes")
        self.persisted = persisted


class UploadTooLong(ValueError):
    """A data request that would run past the length announced at creation."""


@dataclass(frozen=True)
class Progress:
    offset: int
    total: int
    committed: bool


@dataclass
class _Manifest:
    usecase: str
    scopes: str
    key: str
    metadata: dict[str, object]
    total: int
    created: float
    committed: float | None = None

    def owns(self, object_id: ObjectId) -> bool:
        return (self.usecase, self.scopes, self.key) == (
            object_id.usecase,
            str(object_id.scopes),
            object_id.key,
        )


class ResumableUploads:
    def __init__(
        self,
        root: str | os.PathLike[str],
        service: StorageService,
        *,
        abandon_after: float = 24 * 3600,
        keep_committed: float = 3600,
    ) -> None:
        self.root = Path(root)
        self.service = service
        self.abandon_after = abandon_after
        self.keep_committed = keep_committed

    async def open(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)

    # --- session files ----------------------------------------------------------------

    def _dir(self, token: str) -> Path:
        if _TOKEN.fullmatch(token) is None:  # also keeps tokens from naming other paths
            raise UnknownSession(token)
        return self.root / token

    def _read_manifest(self, directory: Path, object_id: ObjectId) -> _Manifest:
        try:
            manifest = _Manifest(**json.loads((directory / "manifest.json").read_text()))
        except (OSError, ValueError, TypeError):
            raise UnknownSession(directory.name) from None
        if not manifest.owns(object_id):
            raise UnknownSession(directory.name)  # a token is only valid on its own object
        if manifest.committed is None and time.time() - manifest.created > self.abandon_after:
            raise SessionExpired(directory.name)
        return manifest

    @staticmethod
    def _write_manifest(directory: Path, manifest: _Manifest) -> None:
        staged = directory / "manifest.json.tmp"
        with open(staged, "w") as handle:
            json.dump(asdict(manifest), handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staged, directory / "manifest.json")
        _fsync_dir(directory)

    @contextlib.contextmanager
    def _locked(self, directory: Path) -> Iterator[IO[bytes]]:
        try:
            lock = open(directory / "lock", "rb")  # noqa: SIM115 - closed below
        except OSError:
            raise UnknownSession(directory.name) from None
        try:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SessionBusy(directory.name) from None
            yield lock
        finally:
            lock.close()

    # --- operations -------------------------------------------------------------------

    async def create(self, object_id: ObjectId, metadata: Metadata, total: int) -> str:
        """Persist a new session; nothing becomes visible until its last byte arrives."""
        self.service.check_policy(object_id.usecase, metadata)
        token = secrets.token_urlsafe(32)
        manifest = _Manifest(
            object_id.usecase,
            str(object_id.scopes),
            object_id.key,
            metadata_to_record(metadata),
            total,
            time.time(),
        )

        def write() -> None:
            directory = self.root / token
            directory.mkdir(parents=True)
            (directory / "lock").touch()
            (directory / "data").touch()
            self._write_manifest(directory, manifest)
            _fsync_dir(self.root)

        await asyncio.to_thread(write)
        return token

    async def append(
        self,
        token: str,
        object_id: ObjectId,
        offset: int,
        length: int,
        body: AsyncIterator[bytes],
    ) -> Progress:
        """Append a data request's bytes at ``offset``; commit when the upload is whole."""
        directory = self._dir(token)
        manifest = await asyncio.to_thread(self._read_manifest, directory, object_id)
        with self._locked(directory):
            if manifest.committed is not None:
                return Progress(manifest.total, manifest.total, True)
            data_path = directory / "data"
            persisted = data_path.stat().st_size
            if offset != persisted:
                raise OffsetMismatch(persisted)
            if offset + length > manifest.total:
                raise UploadTooLong(
                    f"{length} bytes at offset {offset} run past the announced "
                    f"Upload-Length of {manifest.total}"
                )
            handle = await asyncio.to_thread(open, data_path, "ab")
            try:
                await _append(handle, body)
            finally:
                # Keep what arrived, even when the client went away mid-request.
                await asyncio.shield(asyncio.to_thread(_sync_close, handle))
            persisted = data_path.stat().st_size
            if persisted < manifest.total:
                return Progress(persisted, manifest.total, False)
            await self._commit(directory, manifest, object_id)
            return Progress(manifest.total, manifest.total, True)

    async def probe(self, token: str, object_id: ObjectId) -> Progress:
        """Where the upload stands; a whole but uncommitted upload is committed now."""
        directory = self._dir(token)
        manifest = await asyncio.to_thread(self._read_manifest, directory, object_id)
        if manifest.committed is not None:
            return Progress(manifest.total, manifest.total, True)
        with self._locked(directory):
            persisted = (directory / "data").stat().st_size
            if persisted < manifest.total:
                return Progress(persisted, manifest.total, False)
            await self._commit(directory, manifest, object_id)
            return Progress(manifest.total, manifest.total, True)

    async def cancel(self, token: str, object_id: ObjectId) -> None:
        directory = self._dir(token)
        await asyncio.to_thread(self._read_manifest, directory, object_id)
        await asyncio.to_thread(shutil.rmtree, directory, True)

    async def _commit(self, directory: Path, manifest: _Manifest, object_id: ObjectId) -> None:
        metadata = metadata_from_record(manifest.metadata)
        await self.service.insert(object_id, metadata, _read_file(directory / "data"))
        manifest.committed = time.time()

        def finish() -> None:
            self._write_manifest(directory, manifest)
            with contextlib.suppress(OSError):
                (directory / "data").unlink()

        await asyncio.shield(asyncio.to_thread(finish))

    async def sweep(self) -> int:
        """Remove abandoned sessions and committed ones past their grace period."""
        return await asyncio.to_thread(self._sweep_sync)

    def _sweep_sync(self) -> int:
        now = time.time()
        removed = 0
        with contextlib.suppress(FileNotFoundError):
            for directory in self.root.iterdir():
                try:
                    manifest = _Manifest(**json.loads((directory / "manifest.json").read_text()))
                    stale = (
                        manifest.committed + self.keep_committed < now
                        if manifest.committed is not None
                        else manifest.created + self.abandon_after < now
                    )
                except (OSError, ValueError, TypeError):
                    # A session whose creation never finished: judge it by its age.
                    stale = directory.stat().st_mtime + self.abandon_after < now
                if stale:
                    shutil.rmtree(directory, ignore_errors=True)
                    removed += 1
        return removed


async def _append(handle: IO[bytes], body: AsyncIterator[bytes]) -> None:
    buffer = bytearray()
    try:
        async for chunk in body:
            buffer += chunk
            if len(buffer) >= _FLUSH_BYTES:
                await asyncio.to_thread(handle.write, bytes(buffer))
                buffer.clear()
    finally:
        if buffer:
            await asyncio.shield(asyncio.to_thread(handle.write, bytes(buffer)))


def _sync_close(handle: IO[bytes]) -> None:
    try:
        handle.flush()
        os.fsync(handle.fileno())
    finally:
        handle.close()


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(open, path, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, _READ_CHUNK):
            yield chunk
    finally:
        handle.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
