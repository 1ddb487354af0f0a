"""The asynchronous client: ``AsyncClient`` → ``AsyncSession`` on aiohttp.

The same surface as the sync client (``put``/``get``/``head``/``delete``, tokens,
metrics, transparent zstd) with awaitable operations, streaming bodies in both
directions (``async for chunk in result.payload``) and :meth:`AsyncSession.many` for
batching many small operations into few requests (spec §8). Argument checking and
header choice come from :mod:`blobhouse.client._plans`, shared with the sync client;
every wire rule from :mod:`blobhouse.core`, shared with the server.

aiohttp is an optional dependency (``pip install 'blobhouse[async]'``); it was chosen
over httpx for its throughput with many requests in flight (STACK.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import IO, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import aiohttp
import zstandard

from blobhouse.client import _compression
from blobhouse.client._auth import (
    AUTH_HEADER,
    SecretKey,
    TokenProvider,
    auth_header_value,
    check_token,
)
from blobhouse.client._batching import BatchOps, BatchResult
from blobhouse.client._client import (
    DEFAULT_CONNECT_RETRIES,
    DEFAULT_CONNECT_TIMEOUT,
    USER_AGENT,
    Usecase,
)
from blobhouse.client._errors import ExpiryExtensionRejected, ObjectNotFound, RequestError
from blobhouse.client._metrics import MetricsBackend, NoOpMetricsBackend, measure
from blobhouse.client._models import Compression
from blobhouse.client._plans import (
    PutPlan,
    expiry_extension_body,
    plan_compose,
    plan_put,
    should_decompress,
)
from blobhouse.client._resumable import (
    MAX_STALLS,
    Answer,
    Threshold,
    backoff_seconds,
    check_threshold,
    classify,
    goes_resumable,
    parse_created,
    remaining_size,
    spool_compressed,
)
from blobhouse.client._signing import SessionSigning
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import Scopes, validate_key
from blobhouse.core.metadata import (
    Metadata,
    metadata_from_response_headers,
)
from blobhouse.core.ranges import RangeSpec
from blobhouse.core.urls import encode_path, object_path

__all__ = [
    "AsyncClient",
    "AsyncGetResponse",
    "AsyncPayload",
    "AsyncSession",
    "Batch",
    "BatchResult",
]

CHUNK_SIZE = _compression.CHUNK_SIZE
_DETAIL_LIMIT = 300
# Batching policy (spec §8.3, as the Rust client does it).
BATCH_CONCURRENCY = 3
SINGLE_CONCURRENCY = 5

T = TypeVar("T")
Contents = bytes | IO[bytes] | AsyncIterable[bytes]


class AsyncPayload:
    """An object's content as it arrives: ``async for chunk in payload`` or ``await read()``.

    Holds a live connection until read to the end or :meth:`close`\\ d.
    """

    def __init__(self, response: aiohttp.ClientResponse, decompress: bool) -> None:
        self._response = response
        self._decompress = decompress

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            source = self._response.content.iter_chunked(CHUNK_SIZE)
            if not self._decompress:
                async for chunk in source:
                    yield chunk
                return
            async for chunk in _decompress(source):
                yield chunk
        finally:
            self.close()

    async def read(self) -> bytes:
        """All of the content (for objects known to be small)."""
        return b"".join([chunk async for chunk in self])

    def close(self) -> None:
        self._response.release()


@dataclass(frozen=True)
class AsyncGetResponse:
    metadata: Metadata
    payload: AsyncPayload


async def _decompress(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """Decode a stream of one or more zstd frames (writers may append frames)."""
    decompressor = zstandard.ZstdDecompressor()
    current = decompressor.decompressobj()
    async for chunk in source:
        data = chunk
        while data:
            out = current.decompress(data)
            if out:
                yield out
            if not current.eof:
                break
            data = current.unused_data
            current = decompressor.decompressobj()


async def _chunks_of(contents: Contents) -> AsyncIterator[bytes]:
    if isinstance(contents, bytes | bytearray | memoryview):
        yield bytes(contents)
    elif isinstance(contents, io.TextIOBase):
        raise TypeError("contents is a text stream; open the file in binary mode ('rb')")
    elif callable(getattr(contents, "read", None)):
        reader: IO[bytes] = contents  # type: ignore[assignment]
        while block := await asyncio.to_thread(reader.read, CHUNK_SIZE):
            yield block
    elif isinstance(contents, AsyncIterable):
        async for block in contents:
            yield bytes(block)
    else:
        raise TypeError(
            "contents must be bytes, a binary file-like object or an async iterable of bytes, "
            f"got {type(contents).__name__}"
        )


async def _file_chunks(handle: IO[bytes], position: int) -> AsyncIterator[bytes]:
    """A file's bytes from ``position`` to its end, read off the event loop."""
    await asyncio.to_thread(handle.seek, position)
    while block := await asyncio.to_thread(handle.read, CHUNK_SIZE):
        yield block


async def _compress(source: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    compressor = zstandard.ZstdCompressor().compressobj()
    async for block in source:
        out = compressor.compress(block)
        if out:
            yield out
    yield compressor.flush()


async def _raise_for_status(
    response: aiohttp.ClientResponse,
    operation: str,
    error_type: type[RequestError] = RequestError,
) -> None:
    status = response.status
    if status < 300:
        return
    text = (await response.read()).decode("utf-8", "replace")
    message = f"Blobhouse {operation} failed with status {status}"
    if status < 400:
        message += f" (redirect to {response.headers.get('location')!r}; check base_url)"
    if text.strip():
        detail = text.strip()
        if len(detail) > _DETAIL_LIMIT:
            detail = detail[:_DETAIL_LIMIT] + "..."
        message += f": {detail}"
    raise error_type(message, status, text)


def _lowercase_headers(response_headers: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(name.lower(), value) for name, value in response_headers.items()]


@dataclass
class _Transport:
    base_url: str
    base_path: str
    metrics: MetricsBackend
    token: TokenProvider | None
    retries: int
    timeout: aiohttp.ClientTimeout
    connector_kwargs: dict[str, Any]
    headers: dict[str, str]
    spool_dir: str | None = None
    http: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        # Created on first use, inside the caller's running event loop.
        if self.http is None or self.http.closed:
            self.http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(**self.connector_kwargs),
                timeout=self.timeout,
                headers=self.headers,
                auto_decompress=False,
            )
        return self.http

    async def request(
        self, method: str, url: str, *, replayable: bool, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        """Send once; retry only connects that failed, and only for replayable bodies."""
        attempts = 1 + (self.retries if replayable else 0)
        for attempt in range(attempts):
            try:
                return await self.session().request(method, url, **kwargs)
            except aiohttp.ClientConnectorError:
                if attempt + 1 >= attempts:
                    raise
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        raise AssertionError("unreachable")


class AsyncClient:
    """An aiohttp connection pool to one Blobhouse (or objectstore) server.

    Arguments mean what they mean for :class:`blobhouse.Client`; ``connection_kwargs``
    go to :class:`aiohttp.TCPConnector` (e.g. ``limit`` for the pool size). Use it as an
    async context manager, or ``await client.close()``.
    """

    def __init__(
        self,
        base_url: str,
        metrics_backend: MetricsBackend | None = None,
        propagate_traces: bool = False,
        retries: int | None = None,
        timeout_ms: float | None = None,
        connection_kwargs: Mapping[str, Any] | None = None,
        token: TokenProvider | None = None,
        spool_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if propagate_traces:
            raise ValueError("propagate_traces is not supported by the async client")
        if retries is not None and (isinstance(retries, bool) or retries < 0):
            raise ValueError(f"retries must be a non-negative int or None, got {retries!r}")
        if timeout_ms is not None and timeout_ms <= 0:
            raise ValueError(
                f"timeout_ms must be positive (or None for no limit), got {timeout_ms}"
            )
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be http(s)://host[:port][/prefix], got {base_url!r}")
        self._transport = _Transport(
            base_url=f"{parts.scheme}://{parts.netloc}",
            base_path=parts.path.rstrip("/"),
            metrics=metrics_backend if metrics_backend is not None else NoOpMetricsBackend(),
            token=check_token(token),
            retries=DEFAULT_CONNECT_RETRIES if retries is None else retries,
            timeout=aiohttp.ClientTimeout(
                total=None,
                sock_connect=DEFAULT_CONNECT_TIMEOUT,
                sock_read=None if timeout_ms is None else timeout_ms / 1000,
            ),
            connector_kwargs=dict(connection_kwargs or {}),
            headers={"User-Agent": USER_AGENT},
            spool_dir=None if spool_dir is None else os.fspath(spool_dir),
        )

    def session(self, usecase: Usecase, **scopes: str | int | bool) -> AsyncSession:
        """A session for ``usecase`` in the namespace ``scopes`` (order matters)."""
        if not isinstance(usecase, Usecase):
            raise TypeError(f"usecase must be a Usecase, got {type(usecase).__name__}")
        return AsyncSession(self._transport, usecase, Scopes.of(**scopes))

    async def close(self) -> None:
        if self._transport.http is not None:
            await self._transport.http.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()


class AsyncSession(SessionSigning):
    """Operations on objects of one usecase and scope; see :class:`blobhouse.Session`.

    Tokens, object URLs and pre-signed URLs (``mint_token``, ``object_url``,
    ``presigned_object_url``, ``presigned_put_url``) work as on the sync session.
    """

    _transport: _Transport
    _usecase: Usecase

    def __init__(self, transport: _Transport, usecase: Usecase, scopes: Scopes) -> None:
        self._transport = transport
        self._usecase = usecase
        self._scopes = scopes

    @property
    def usecase(self) -> Usecase:
        return self._usecase

    @property
    def scopes(self) -> Scopes:
        return self._scopes

    def __repr__(self) -> str:
        return f"<AsyncSession {self._usecase.name}/{self._scopes}>"

    # --- helpers -----------------------------------------------------------------------

    def _path(self, key: str | None, resource: str = "objects") -> str:
        path = object_path(self._usecase.name, self._scopes, key, resource)
        return encode_path(self._transport.base_path) + path

    def _url(self, key: str | None, resource: str = "objects") -> str:
        return self._transport.base_url + self._path(key, resource)

    def _headers(self) -> dict[str, str]:
        token = self._transport.token
        if isinstance(token, SecretKey):
            token = token.token_for_scope(self._usecase.name, self._scopes)
        return {AUTH_HEADER: auth_header_value(token)} if token else {}

    def _describe(self, key: str | None) -> str:
        return f"{self._usecase.name}/{self._scopes}/{key if key is not None else '<new>'}"

    async def _request(
        self, method: str, url: str, *, replayable: bool = True, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        return await self._transport.request(
            method, url, replayable=replayable, skip_auto_headers=("Accept-Encoding",), **kwargs
        )

    # --- operations --------------------------------------------------------------------

    async def put(
        self,
        contents: Contents,
        key: str | None = None,
        compress: Compression | None = None,
        *,
        compression: Compression | None = None,
        precompressed: Compression | None = None,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        expiration_policy: ExpirationPolicy | None = None,
        origin: str | None = None,
        filename: str | None = None,
        if_absent: bool = False,
        resumable_threshold_bytes: Threshold | None = None,
    ) -> str:
        """Store ``contents`` (bytes, a binary file or an async iterable) and return its key."""
        plan = plan_put(
            usecase_compression=self._usecase.compression,
            usecase_policy=self._usecase.expiration_policy,
            key=key,
            compress=compress,
            compression=compression,
            precompressed=precompressed,
            content_type=content_type,
            metadata=metadata,
            expiration_policy=expiration_policy,
            origin=origin,
            filename=filename,
            if_absent=if_absent,
        )
        threshold = (
            self._usecase.resumable_threshold_bytes
            if resumable_threshold_bytes is None
            else check_threshold(resumable_threshold_bytes)
        )
        if not if_absent and goes_resumable(remaining_size(contents), threshold):
            return await self._put_resumable(plan, contents)  # type: ignore[arg-type]
        headers = {**self._headers(), **plan.headers}
        body: bytes | AsyncIterator[bytes]
        replayable = isinstance(contents, bytes | bytearray | memoryview)
        if replayable:
            data = bytes(contents)  # type: ignore[arg-type]
            body = _compression.compress(data) if plan.compress_here else data
        else:
            stream = _chunks_of(contents)
            body = _compress(stream) if plan.compress_here else stream
        operation = f"put of {self._describe(plan.key)}"
        with measure(self._transport.metrics, "put", self._usecase.name):
            response = await self._request(
                plan.method, self._url(plan.key), replayable=replayable, data=body, headers=headers
            )
            async with response:
                await _raise_for_status(response, operation)
                try:
                    answer = await response.json(content_type=None)
                    return str(answer["key"])
                except (ValueError, KeyError, TypeError) as exc:
                    raise RequestError(
                        f"Blobhouse {operation} answered without a key", response.status, None
                    ) from exc

    # --- resumable uploads (spec §22.4) ----------------------------------------------------

    async def _put_resumable(self, plan: PutPlan, contents: bytes | IO[bytes]) -> str:
        """Upload through a session; an ordinary put if the server declines one."""
        source: IO[bytes] = (
            io.BytesIO(bytes(contents)) if isinstance(contents, bytes | bytearray) else contents
        )
        spool = None
        if plan.compress_here:
            spool = await asyncio.to_thread(spool_compressed, source, self._transport.spool_dir)
        body = spool or source
        try:
            start = body.tell()
            total = body.seek(0, io.SEEK_END) - start
            body.seek(start)
            created = await self._create_upload(plan, total)
            operation = f"put of {self._describe(plan.key)}"
            if created is None:  # declined or failed: the plain upload, body already encoded
                with measure(self._transport.metrics, "put", self._usecase.name):
                    response = await self._request(
                        plan.method,
                        self._url(plan.key),
                        replayable=False,
                        data=_file_chunks(body, start),
                        headers={**self._headers(), **plan.headers},
                    )
                    async with response:
                        await _raise_for_status(response, operation)
                        answer = await response.json(content_type=None)
                        return str(answer["key"])
            key, token = created
            with measure(self._transport.metrics, "resumable.put", self._usecase.name):
                await self._upload_session(key, token, body, start, total)
            return key
        finally:
            if spool is not None:
                spool.close()

    async def _create_upload(self, plan: PutPlan, total: int) -> tuple[str, str] | None:
        headers = {**self._headers(), **plan.headers, "Upload-Length": str(total)}
        try:
            with measure(self._transport.metrics, "resumable.create", self._usecase.name):
                response = await self._request(
                    plan.method,
                    self._url(plan.key) + "?upload_type=resumable",
                    data=b"",
                    headers=headers,
                )
                async with response:
                    answer = await response.json(content_type=None) if response.ok else None
        except (aiohttp.ClientError, OSError, ValueError):
            return None
        return parse_created(response.status, answer)

    async def _upload_session(
        self, key: str, token: str, body: IO[bytes], start: int, total: int
    ) -> None:
        url = self._url(key) + "?" + urlencode({"session": token})
        offset, stalls, probe = 0, 0, False
        while True:
            status: int | None = None
            text: str | None = None
            try:
                if probe:
                    headers = {**self._headers(), "Upload-Offset": "*"}
                    data: bytes | AsyncIterator[bytes] = b""
                else:
                    headers = {
                        **self._headers(),
                        "Upload-Offset": str(offset),
                        "Content-Length": str(total - offset),
                    }
                    data = _file_chunks(body, start + offset)
                response = await self._request(
                    "PUT", url, replayable=False, data=data, headers=headers
                )
                async with response:
                    status = response.status
                    text = (await response.read()).decode("utf-8", "replace")
                    answer = classify(status, response.headers.get, offset, total, probe=probe)
            except (aiohttp.ClientError, OSError):
                answer = Answer("transient", offset)
            if answer.kind == "complete":
                return
            if answer.kind == "progress":
                if answer.offset > offset:
                    stalls = 0
                offset, probe = answer.offset, False
                continue
            if answer.kind == "transient":
                stalls += 1
                if stalls < MAX_STALLS:
                    await asyncio.sleep(backoff_seconds(stalls))
                    probe = True
                    continue
            with contextlib.suppress(aiohttp.ClientError, OSError):
                response = await self._request("DELETE", url, headers=self._headers())
                response.release()
            message = f"Blobhouse resumable upload of {self._describe(key)} failed"
            if status is not None:
                message += f" with status {status}: {(text or '')[:300]}"
            raise RequestError(message, status, text)

    async def get(
        self,
        key: str,
        decompress: bool = True,
        accept_encoding: Sequence[str] | None = None,
        *,
        byte_range: tuple[int, int | None] | None = None,
    ) -> AsyncGetResponse | None:
        """Fetch an object as a stream; None if it does not exist (or has expired)."""
        validate_key(key)
        headers = self._headers()
        if byte_range is not None:
            headers["Range"] = RangeSpec(first=byte_range[0], last=byte_range[1]).header_value()
        with measure(self._transport.metrics, "get", self._usecase.name):
            response = await self._request("GET", self._url(key), headers=headers)
            try:
                if response.status == 404:
                    response.release()
                    return None
                await _raise_for_status(response, f"get of {self._describe(key)}")
                if byte_range is not None and response.status != 206:
                    raise RequestError(
                        f"Blobhouse get of {self._describe(key)} with a Range answered "
                        f"{response.status} instead of 206 Partial Content",
                        response.status,
                        None,
                    )
                metadata = metadata_from_response_headers(_lowercase_headers(response.headers))
                decode = should_decompress(
                    metadata, decompress, accept_encoding, byte_range is not None
                )
            except BaseException:
                response.release()
                raise
        if decode:
            metadata = replace(metadata, compression=None)
        return AsyncGetResponse(metadata, AsyncPayload(response, decode))

    async def head(self, key: str) -> Metadata | None:
        """An object's metadata; None if it does not exist. Refreshes a TTI deadline."""
        validate_key(key)
        with measure(self._transport.metrics, "head", self._usecase.name):
            response = await self._request("HEAD", self._url(key), headers=self._headers())
            async with response:
                if response.status == 404:
                    return None
                await _raise_for_status(response, f"head of {self._describe(key)}")
                return metadata_from_response_headers(_lowercase_headers(response.headers))

    async def delete(self, key: str) -> None:
        """Delete an object (idempotent)."""
        validate_key(key)
        with measure(self._transport.metrics, "delete", self._usecase.name):
            response = await self._request("DELETE", self._url(key), headers=self._headers())
            async with response:
                await _raise_for_status(response, f"delete of {self._describe(key)}")

    async def extend_expiry(
        self,
        key: str,
        at: datetime | None = None,
        from_creation: timedelta | None = None,
        from_now: timedelta | None = None,
    ) -> None:
        """Push an expiring object's deadline out (see :meth:`blobhouse.Session.extend_expiry`)."""
        validate_key(key)
        body = expiry_extension_body(at, from_creation, from_now)
        headers = {**self._headers(), "Content-Type": "application/json"}
        operation = f"expiry extension of {self._describe(key)}"
        with measure(self._transport.metrics, "extend_expiry", self._usecase.name):
            response = await self._request("PATCH", self._url(key), data=body, headers=headers)
            async with response:
                error = {404: ObjectNotFound, 409: ExpiryExtensionRejected}.get(
                    response.status, RequestError
                )
                await _raise_for_status(response, operation, error)

    async def compose(
        self,
        sources: Sequence[str],
        key: str | None = None,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        expiration_policy: ExpirationPolicy | None = None,
        origin: str | None = None,
        filename: str | None = None,
        if_absent: bool = False,
    ) -> str:
        """Concatenate existing objects of this session into a new one, server-side.

        Blobhouse extension (``objects:compose``, docs/protocol-extensions.md): nothing is
        downloaded. Returns the new key (server-generated when ``key`` is None).
        """
        plan = plan_compose(
            usecase_policy=self._usecase.expiration_policy,
            sources=sources,
            key=key,
            content_type=content_type,
            metadata=metadata,
            expiration_policy=expiration_policy,
            origin=origin,
            filename=filename,
            if_absent=if_absent,
        )
        chosen = plan.key
        operation = f"compose into {self._describe(chosen)}"
        with measure(self._transport.metrics, "compose", self._usecase.name):
            response = await self._request(
                plan.method,
                self._url(chosen, "objects:compose"),
                data=plan.body,
                headers={**self._headers(), **plan.headers},
            )
            async with response:
                await _raise_for_status(response, operation)
                answer = await response.json(content_type=None)
                return str(answer["key"])

    def many(self) -> Batch:
        """Collect operations and run them in as few requests as the limits allow."""
        return Batch(self)


# --- batching ----------------------------------------------------------------------------


class Batch(BatchOps):
    """Operations collected by :meth:`AsyncSession.many`; run them with :meth:`send`.

    Batch requests go up to three at a time, individual puts up to five (as the Rust
    client does). Results come back in the order operations were added.
    """

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session.usecase)
        self._session = session

    async def send(self) -> list[BatchResult]:
        """Run every operation; one failing operation never fails the others."""
        results: list[BatchResult | None] = [None] * len(self._ops)
        groups, singles = self.plan()

        async def run_group(indexes: list[int]) -> None:
            for index, result in zip(indexes, await self._send_group(indexes), strict=True):
                results[index] = result

        async def run_single(index: int) -> None:
            results[index] = await self._send_single(index)

        await _bounded([partial(run_group, group) for group in groups], BATCH_CONCURRENCY)
        await _bounded([partial(run_single, index) for index in singles], SINGLE_CONCURRENCY)
        return self.complete(results)

    async def _send_single(self, index: int) -> BatchResult:
        op = self._ops[index]
        try:
            key = await self._session.put(op.contents, op.key, **op.put_kwargs)
        except RequestError as exc:
            return self.failed_single(index, exc)
        return BatchResult("insert", key, 201)

    async def _send_group(self, indexes: list[int]) -> list[BatchResult]:
        session = self._session
        content_type, body = self.encode(indexes)
        headers = {**session._headers(), "Content-Type": content_type}
        reader = self.reader(indexes, f"batch on {session.usecase.name}/{session.scopes}")
        with measure(session._transport.metrics, "batch", session.usecase.name):
            response = await session._request(
                "POST", session._url(None, "objects:batch"), data=body, headers=headers
            )
            async with response:
                await _raise_for_status(response, reader.operation)
                reader.start(response.headers.get("content-type"))
                async for chunk in response.content.iter_chunked(CHUNK_SIZE):
                    reader.feed(chunk)
        return reader.results()


async def _bounded(jobs: Sequence[Callable[[], Awaitable[None]]], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[None]]) -> None:
        async with semaphore:
            await job()

    await asyncio.gather(*(run(job) for job in jobs))
