"""``POST /v1/objects:batch/{usecase}/{scopes}/``: many operations in one request (spec §8).

The request body is parsed as it arrives; each operation starts as soon as its part is
complete, at most :data:`_WINDOW` at a time per request (so a huge batch never holds
more than that many insert bodies), each under a bulk concurrency permit. Results are
queued in completion order and written once the request body has been read in full:
answering while the client is still sending could deadlock a client that only reads
after it has written everything. GET results keep their stored body as a stream until
their turn, so a batch of large objects is never held in memory.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParser, parse_options_header

from blobhouse.backends.base import BackendUnavailable, PayloadTooLarge, QuotaExceeded
from blobhouse.core import batch as wire
from blobhouse.core.ids import IdError, generate_key, validate_key
from blobhouse.core.metadata import (
    MetadataError,
    metadata_from_request_headers,
    metadata_response_headers,
)
from blobhouse.core.permissions import Permission
from blobhouse.core.urls import ObjectRoute
from blobhouse.server.admission import ConcurrencyLimiter
from blobhouse.server.auth import Access
from blobhouse.server.config import Settings
from blobhouse.server.http import SERVER_HEADER, HttpError, Request, Send
from blobhouse.server.objects import Admission
from blobhouse.service.policy import PolicyViolation
from blobhouse.service.storage import StorageService

__all__ = ["BatchHandler", "build_bulk_limiter"]

log = logging.getLogger(__name__)

_WINDOW = 32  # operations of one request in flight at once
_PERMISSIONS = {
    "get": Permission.OBJECT_READ,
    "head": Permission.OBJECT_READ,
    "insert": Permission.OBJECT_WRITE,
    "delete": Permission.OBJECT_DELETE,
}


@dataclass
class _Part:
    """One operation as parsed: its headers and (for inserts) its body."""

    index: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    size: int = 0

    def header(self, name: str) -> str | None:
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


@dataclass
class _Result:
    index: int
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: AsyncIterator[bytes] | bytes = b""


class _Collector:
    """Feeds python-multipart and hands out each part once it is complete."""

    def __init__(self, boundary: bytes) -> None:
        self.done: list[_Part] = []
        self.ended = False
        self._count = 0
        self._part: _Part | None = None
        self._field = bytearray()
        self._value = bytearray()
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_part_data": self._data,
                "on_part_end": self._end,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_end": self._finish,
            },
            max_header_count=256,
        )

    def _begin(self) -> None:
        self._part = _Part(self._count)
        self._count += 1

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        assert self._part is not None
        name = self._field.decode("latin-1").strip().lower()
        self._part.headers.append((name, self._value.decode("latin-1").strip()))
        self._field.clear()
        self._value.clear()

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        assert part is not None
        part.size += end - start
        if part.size <= wire.BATCH_MAX_INSERT:  # past the limit the op fails; keep no bytes
            part.body += data[start:end]

    def _end(self) -> None:
        assert self._part is not None
        self.done.append(self._part)
        self._part = None

    def _finish(self) -> None:
        self.ended = True

    def write(self, chunk: bytes) -> list[_Part]:
        self.parser.write(chunk)
        parts, self.done = self.done, []
        return parts


def _boundary(content_type: str | None) -> bytes:
    if content_type is None:
        raise HttpError(400, "a batch request needs Content-Type: multipart/form-data")
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise HttpError(
            400, "a batch request body must be multipart/form-data with a boundary parameter"
        )
    return boundary


class BatchHandler:
    def __init__(
        self,
        service: StorageService,
        admission: Admission,
        bulk: ConcurrencyLimiter,
    ) -> None:
        self.service = service
        self.admission = admission
        self.bulk = bulk

    async def handle(
        self, route: ObjectRoute, request: Request, send: Send, access: Access
    ) -> None:
        if route.key is not None:
            raise HttpError(404, "a batch path ends after the scopes: /v1/objects:batch/U/S/")
        if request.method != "POST":
            raise HttpError(405, f"{request.method} is not allowed on a batch", [("allow", "POST")])
        if access.presigned:
            raise HttpError(403, "signed URLs cannot run batch requests")
        admission = self.admission
        admission.killswitches.check(
            route.usecase, route.scopes, request.header("x-downstream-service")
        )
        await admission.bandwidth.check(route.usecase, route.scopes)
        await admission.throughput.check(route.usecase, route.scopes)
        boundary = _boundary(request.header("content-type"))

        collector = _Collector(boundary)
        results: asyncio.Queue[_Result] = asyncio.Queue()
        window = asyncio.Semaphore(_WINDOW)
        tasks: set[asyncio.Task[None]] = set()
        started = 0

        async def run(part: _Part) -> None:
            try:
                await results.put(await self._operation(route, part, access))
            finally:
                window.release()

        try:
            async for chunk in request.body(wire.BATCH_MAX_BODY):
                try:
                    parts = collector.write(chunk)
                except Exception as exc:  # python-multipart raises several error types
                    raise HttpError(400, f"malformed multipart body: {exc}") from exc
                for part in parts:
                    await window.acquire()
                    task = asyncio.create_task(run(part))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    started += 1
            if not collector.ended:
                raise HttpError(
                    400, "malformed multipart body: it ends before the closing boundary"
                )
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        await self._respond(send, results, started)

    async def _respond(self, send: Send, results: asyncio.Queue[_Result], count: int) -> None:
        boundary = wire.new_boundary()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    SERVER_HEADER,
                    (b"content-type", f'multipart/form-data; boundary="{boundary}"'.encode()),
                ],
            }
        )
        for number in range(count):
            result = await results.get()
            headers = [
                ("content-disposition", "form-data; name=part"),
                (wire.HEADER_INDEX, str(result.index)),
                (wire.HEADER_STATUS, wire.status_line(result.status)),
                *result.headers,
            ]
            head = wire.part_head(boundary, headers, first=number == 0)
            if isinstance(result.body, bytes):
                await send(
                    {"type": "http.response.body", "body": head + result.body, "more_body": True}
                )
            else:
                await send({"type": "http.response.body", "body": head, "more_body": True})
                async for chunk in result.body:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        closing = wire.closing_delimiter(boundary, any_parts=count > 0)
        await send({"type": "http.response.body", "body": closing, "more_body": False})

    async def _operation(self, route: ObjectRoute, part: _Part, access: Access) -> _Result:
        try:
            return await self._execute(route, part, access)
        except HttpError as exc:
            return _error(part.index, exc.status, exc.detail)
        except QuotaExceeded as exc:
            return _error(part.index, 413, str(exc))
        except PayloadTooLarge as exc:
            return _error(part.index, 413, f"insert body exceeds {exc.limit} bytes")
        except BackendUnavailable as exc:
            return _error(part.index, 503, str(exc))
        except Exception:
            log.exception("batch operation %d failed", part.index)
            return _error(part.index, 500, "internal server error")

    async def _execute(self, route: ObjectRoute, part: _Part, access: Access) -> _Result:
        if part.index >= wire.BATCH_MAX_OPERATIONS:
            raise HttpError(413, f"a batch holds at most {wire.BATCH_MAX_OPERATIONS} operations")
        kind = (part.header(wire.HEADER_KIND) or "").strip().lower()
        if kind not in wire.KINDS:
            raise HttpError(
                400, f"{wire.HEADER_KIND} must be one of get, head, insert, delete; got {kind!r}"
            )
        raw_key = part.header(wire.HEADER_KEY)
        if raw_key is None:
            if kind != "insert":
                raise HttpError(400, f"{wire.HEADER_KEY} is required for {kind}")
            key = generate_key()
        else:
            try:
                key = validate_key(wire.decode_batch_key(raw_key))
            except (wire.BatchKeyError, IdError) as exc:
                raise HttpError(400, f"invalid {wire.HEADER_KEY}: {exc}") from exc
        if kind == "insert" and part.size > wire.BATCH_MAX_INSERT:
            raise HttpError(
                413, f"a batch insert holds at most {wire.BATCH_MAX_INSERT} bytes; send it alone"
            )
        admission = self.admission
        await admission.throughput.check(route.usecase, route.scopes)
        access.require(_PERMISSIONS[kind], route.usecase, route.scopes, "POST")
        object_id = route.object_id(key)
        done = [(wire.HEADER_KEY, wire.encode_batch_key(key)), (wire.HEADER_KIND, kind)]
        if kind == "insert":
            try:
                metadata = metadata_from_request_headers(part.headers)
                self.service.check_policy(route.usecase, metadata)
            except (MetadataError, PolicyViolation) as exc:
                raise HttpError(400, str(exc)) from exc
            body: AsyncIterator[bytes] = _once(bytes(part.body))
            if admission.bandwidth.active:
                body = admission.bandwidth.metered(route.usecase, route.scopes, body)
            async with self.bulk.permit():
                await self.service.insert(object_id, metadata, body)
            return _Result(part.index, 201, done)
        async with self.bulk.permit():
            if kind == "delete":
                await self.service.delete(object_id)
                return _Result(part.index, 204, done)
            if kind == "head":
                meta = await self.service.head(object_id)
                if meta is None:
                    return _Result(part.index, 404, done)
                return _Result(part.index, 204, done + metadata_response_headers(meta))
            stored = await self.service.get(object_id)
        if stored is None:
            return _Result(part.index, 404, done)
        body = stored.body
        if admission.bandwidth.active:
            body = admission.bandwidth.metered(route.usecase, route.scopes, body)
        return _Result(part.index, 200, done + metadata_response_headers(stored.metadata), body)


def build_bulk_limiter(settings: Settings) -> ConcurrencyLimiter:
    """Permits for batch operations: a share of the service budget (``bulk_concurrency_pct``).

    Operations wait for a permit (every one of a batch may queue) up to the configured
    timeout, then fail alone with 429.
    """
    service = settings.service
    limit = max(1, service.max_concurrency * service.bulk_concurrency_pct // 100)
    if service.max_concurrency == 0:
        limit = 0
    return ConcurrencyLimiter(
        limit, wire.BATCH_MAX_OPERATIONS, service.concurrency_timeout.total_seconds()
    )


def _error(index: int, status: int, detail: str) -> _Result:
    body = json.dumps({"detail": detail, "causes": []}, separators=(",", ":")).encode()
    return _Result(index, status, [("content-type", "application/json")], body)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
