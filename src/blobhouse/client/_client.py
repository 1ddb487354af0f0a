"""The synchronous client: ``Client`` → ``Session`` → ``put`` / ``get`` / ``head`` / ``delete``.

Shaped like objectstore-client 0.2.10 so application code moves between the two by
changing one import. Every wire rule (paths, scopes, keys, metadata headers, durations,
ranges) comes from :mod:`blobhouse.core`, the same code the server parses with, so the
two cannot drift apart.

Transport: one urllib3 connection pool per :class:`Client`. Only failed connects are
retried, because by the time a read fails a streamed (and compressed-on-the-fly) body
has been consumed and cannot be sent again. Network failures surface as urllib3
exceptions (``MaxRetryError`` wrapping ``NewConnectionError`` / ``ConnectTimeoutError``,
``ReadTimeoutError``, ``ProtocolError``), as with the official client.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from types import TracebackType
from typing import IO, Any, cast
from urllib.parse import urlencode, urlsplit

import urllib3
from urllib3.connectionpool import HTTPConnectionPool, connection_from_url

from blobhouse._version import __version__
from blobhouse.client import _compression
from blobhouse.client._auth import (
    AUTH_HEADER,
    SecretKey,
    TokenProvider,
    auth_header_value,
    check_token,
)
from blobhouse.client._batching import BatchOps, BatchResult
from blobhouse.client._compression import (
    ByteCounts,
    compress_stream,
    decompressing_reader,
    read_chunks,
)
from blobhouse.client._errors import (
    ExpiryExtensionRejected,
    ObjectNotFound,
    RequestError,
    raise_for_status,
)
from blobhouse.client._metrics import (
    MetricsBackend,
    NoOpMetricsBackend,
    OperationMetrics,
    measure,
)
from blobhouse.client._models import Compression, GetResponse
from blobhouse.client._plans import (
    COMPRESSIONS,
    PutPlan,
    expiry_extension_body,
    plan_compose,
    plan_put,
)
from blobhouse.client._resumable import (
    DEFAULT_RESUMABLE_THRESHOLD,
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
from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive
from blobhouse.core.ids import Scopes, validate_key, validate_usecase
from blobhouse.core.metadata import (
    Metadata,
    metadata_from_response_headers,
)
from blobhouse.core.ranges import RangeSpec
from blobhouse.core.urls import encode_path, object_path

__all__ = [
    "DEFAULT_CONNECT_RETRIES",
    "DEFAULT_CONNECT_TIMEOUT",
    "USER_AGENT",
    "Client",
    "Session",
    "Usecase",
]

USER_AGENT = f"blobhouse-client/{__version__}"

# The official client waits 0.1 s, tuned for a service in the same cluster. One second
# still fails fast on a dead host but tolerates a cross-zone hop or a busy host's accept
# queue. Override with ``connection_kwargs={"timeout": urllib3.Timeout(...)}``.
DEFAULT_CONNECT_TIMEOUT = 1.0
DEFAULT_CONNECT_RETRIES = 3


def _connect_only_retries(connect: int) -> urllib3.Retry:
    """Retry failed connects only; nothing else is ever replayed.

    ``read=0`` and ``other=0`` because a streamed body cannot be rewound;
    ``redirect=False`` and ``respect_retry_after_header=False`` because following a
    redirect or a ``Retry-After`` would resend an already consumed body (urllib3 does
    both by default for idempotent methods such as PUT).
    """
    return urllib3.Retry(
        total=None,
        connect=connect,
        read=0,
        other=0,
        redirect=False,
        respect_retry_after_header=False,
    )


def _no_replay(retries: urllib3.Retry | bool | int | None) -> urllib3.Retry | bool:
    """The pool's retry policy, narrowed so that a streamed body is never resent."""
    if retries is False:
        return False
    if isinstance(retries, urllib3.Retry):
        return retries.new(read=0, other=0, redirect=False, respect_retry_after_header=False)
    connect = DEFAULT_CONNECT_RETRIES if retries is None or retries is True else retries
    return _connect_only_retries(connect)


@dataclass(frozen=True, slots=True)
class Usecase:
    """A kind of data (``attachments``) and the defaults for every operation on it.

    The name is checked here, with the server's rule, so a typo fails at start-up
    rather than on the first request. ``compression`` is what :meth:`Session.put` uses
    unless told otherwise; ``expiration_policy`` applies to puts that set none.
    """

    name: str
    compression: Compression = "zstd"
    expiration_policy: ExpirationPolicy | None = None
    resumable_threshold_bytes: Threshold = DEFAULT_RESUMABLE_THRESHOLD

    def __post_init__(self) -> None:
        validate_usecase(self.name)
        check_threshold(self.resumable_threshold_bytes)
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"invalid compression {self.compression!r} for usecase {self.name!r}: "
                "use 'zstd' or 'none'"
            )
        if self.expiration_policy is not None and not isinstance(
            self.expiration_policy, TimeToLive | TimeToIdle
        ):
            raise TypeError(
                "expiration_policy must be TimeToLive, TimeToIdle or None, got "
                f"{type(self.expiration_policy).__name__}"
            )


@dataclass(frozen=True, slots=True)
class _Transport:
    """What every session of one client shares: the pool and request defaults."""

    pool: HTTPConnectionPool
    base_path: str
    base_url: str
    metrics: MetricsBackend
    token: TokenProvider | None
    propagate_traces: bool
    spool_dir: str | None = None

    def headers(self) -> urllib3.HTTPHeaderDict:
        # Passing headers to urllib3 replaces the pool's defaults, so start from them.
        headers = urllib3.HTTPHeaderDict(self.pool.headers)
        if self.propagate_traces:
            import sentry_sdk  # imported lazily: only this deprecated option needs it

            for name, value in sentry_sdk.get_current_scope().iter_trace_propagation_headers():
                headers[name] = value
        return headers


class Client:
    """A connection pool to one Blobhouse (or objectstore) server.

    Args:
        base_url: ``http(s)://host:port[/prefix]``; a path prefix is kept in front of
            every request path (for servers mounted below a reverse-proxy path).
        metrics_backend: receives ``storage.<operation>.*`` metrics; none by default.
        propagate_traces: deprecated, as in the official client (Sentry's
            ``StdlibIntegration`` already adds trace headers); needs ``sentry-sdk``.
        retries: connect retries. ``0`` means none (the official client silently
            turned 0 into 3). Only connects are retried, never reads.
        timeout_ms: read timeout in milliseconds, i.e. the longest wait between two
            chunks of the response. ``None``: wait forever. The connect timeout is
            ``DEFAULT_CONNECT_TIMEOUT`` (1 s).
        connection_kwargs: passed to ``urllib3.connection_from_url``, merged last, so
            ``retries``, ``timeout``, TLS options and ``headers`` (merged over the
            ``User-Agent``) can be overridden.
        token: how requests authenticate, sent as ``x-os-auth: Bearer <jwt>``: a
            :class:`SecretKey` mints a fresh token per request, scoped to the session's
            usecase and scopes; a ``str`` is a pre-minted token sent as it is; None (or
            ``""``) sends none. Minting tokens (:meth:`Session.mint_token`,
            ``object_url(token_validity=...)``) and pre-signed URLs need a SecretKey.
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
        checked_token = check_token(token)
        if propagate_traces:
            warnings.warn(
                "propagate_traces is deprecated: Sentry's StdlibIntegration already adds "
                "trace headers to the client's HTTP requests",
                DeprecationWarning,
                stacklevel=2,
            )
            try:
                import sentry_sdk  # noqa: F401
            except ImportError as exc:
                raise ImportError("propagate_traces=True needs sentry-sdk installed") from exc
        if retries is not None and (isinstance(retries, bool) or retries < 0):
            raise ValueError(f"retries must be a non-negative int or None, got {retries!r}")
        if timeout_ms is not None and timeout_ms <= 0:
            raise ValueError(
                f"timeout_ms must be positive (or None for no limit), got {timeout_ms}"
            )

        settings: dict[str, Any] = {
            "retries": _connect_only_retries(
                DEFAULT_CONNECT_RETRIES if retries is None else retries
            ),
            "timeout": urllib3.Timeout(
                connect=DEFAULT_CONNECT_TIMEOUT,
                read=None if timeout_ms is None else timeout_ms / 1000,
            ),
        }
        settings.update(connection_kwargs or {})
        headers = urllib3.HTTPHeaderDict({"User-Agent": USER_AGENT})
        headers.update(settings.get("headers") or {})
        settings["headers"] = headers

        pool = connection_from_url(base_url, **settings)
        host = f"[{pool.host}]" if pool.host and ":" in pool.host else pool.host
        self._transport = _Transport(
            pool=pool,
            base_path=urlsplit(base_url).path.rstrip("/"),
            base_url=f"{pool.scheme}://{host}:{pool.port}",
            metrics=metrics_backend if metrics_backend is not None else NoOpMetricsBackend(),
            token=checked_token,
            propagate_traces=propagate_traces,
            spool_dir=None if spool_dir is None else os.fspath(spool_dir),
        )

    def session(self, usecase: Usecase, **scopes: str | int | bool) -> Session:
        """A session for ``usecase`` in the namespace given by ``scopes``.

        Keyword order is path order and it matters: ``org=1, project=2`` and
        ``project=2, org=1`` are different namespaces. Values are stringified
        (``True`` → ``"True"``); names and values may use ``A-Za-z0-9_-()$!+'``.
        Raises ValueError for anything else.
        """
        if not isinstance(usecase, Usecase):
            raise TypeError(f"usecase must be a Usecase, got {type(usecase).__name__}")
        return Session(self._transport, usecase, Scopes.of(**scopes))

    def close(self) -> None:
        """Close pooled connections; sessions of this client must not be used afterwards."""
        self._transport.pool.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class Session(SessionSigning):
    """Operations on objects of one usecase and scope; create it with :meth:`Client.session`.

    Tokens and URLs for others (``mint_token``, ``object_url``, ``presigned_object_url``,
    ``presigned_put_url``) come from :class:`~blobhouse.client._signing.SessionSigning`.
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
        return f"<Session {self._usecase.name}/{self._scopes}>"

    # --- helpers -----------------------------------------------------------------------

    def _path(self, key: str | None, resource: str = "objects") -> str:
        return encode_path(self._transport.base_path) + object_path(
            self._usecase.name, self._scopes, key, resource
        )

    def _headers(self) -> urllib3.HTTPHeaderDict:
        """The client's headers plus this request's token (minted now for a SecretKey)."""
        headers = self._transport.headers()
        token = self._transport.token
        if isinstance(token, SecretKey):
            token = token.token_for_scope(self._usecase.name, self._scopes)
        if token:
            headers[AUTH_HEADER] = auth_header_value(token)
        return headers

    def _request(
        self,
        method: str,
        key: str | None,
        headers: urllib3.HTTPHeaderDict,
        **kwargs: Any,
    ) -> urllib3.BaseHTTPResponse:
        return self._transport.pool.request(
            method, self._path(key), headers=headers, decode_content=False, **kwargs
        )

    def _measure(self, operation: str) -> AbstractContextManager[OperationMetrics]:
        return measure(self._transport.metrics, operation, self._usecase.name)

    # --- operations --------------------------------------------------------------------

    def put(
        self,
        contents: bytes | IO[bytes],
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
        """Store ``contents`` and return its key (server-generated when ``key`` is None).

        ``contents`` is bytes or a binary file-like object; a file is streamed in
        chunks (``Transfer-Encoding: chunked``) and never read whole into memory.
        By default the usecase's compression applies: zstd, compressed on the fly.
        ``compress="none"`` sends the bytes as they are; ``precompressed="zstd"``
        sends already-compressed bytes untouched but records them as zstd, so reads
        decompress them. ``compression=`` is the deprecated spelling of ``compress``.

        ``metadata`` entries become ``x-snme-<name>`` headers (names come back
        lowercased). ``expiration_policy`` overrides the usecase's. With
        ``if_absent=True`` the write only happens if ``key`` does not exist yet
        (``If-None-Match: *``); otherwise the server answers 412 and this raises
        :class:`RequestError` with ``status == 412``.

        Raises ValueError for invalid arguments before anything is sent, and
        :class:`RequestError` if the server refuses the write.
        """
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
        chosen_key, encoding, compress_here = plan.key, plan.encoding, plan.compress_here
        headers = self._headers()
        headers.update(plan.headers)

        threshold = (
            self._usecase.resumable_threshold_bytes
            if resumable_threshold_bytes is None
            else check_threshold(resumable_threshold_bytes)
        )
        if not if_absent and goes_resumable(remaining_size(contents), threshold):
            return self._put_resumable(plan, contents)

        counts = ByteCounts()
        body: bytes | Iterator[bytes]
        retries: urllib3.Retry | bool | int | None = None  # the pool's policy
        if isinstance(contents, bytes | bytearray | memoryview):
            data = bytes(contents)
            body = _compression.compress(data) if compress_here else data
            counts.consumed, counts.produced = len(data), len(body)
        elif isinstance(contents, io.TextIOBase):
            raise TypeError("contents is a text stream; open the file in binary mode ('rb')")
        elif callable(getattr(contents, "read", None)):
            if compress_here:
                body = compress_stream(contents, counts)
            else:
                body = read_chunks(contents, counts)
            retries = _no_replay(self._transport.pool.retries)
        else:
            raise TypeError(
                f"contents must be bytes or a binary file-like object, got "
                f"{type(contents).__name__}"
            )

        with self._measure("put") as sizes:
            response = self._request(
                plan.method, chosen_key, headers, body=body, retries=retries, preload_content=True
            )
            raise_for_status(response, f"put of {self._describe(chosen_key)}")
            if precompressed is None:
                sizes.uncompressed_size = counts.consumed
            if encoding != "none":
                sizes.compressed_size = counts.produced
                sizes.compression = encoding
        return _key_from(response, f"put of {self._describe(chosen_key)}")

    # --- resumable uploads (spec §22.4) ----------------------------------------------------

    def _put_resumable(self, plan: PutPlan, contents: bytes | IO[bytes]) -> str:
        """Upload through a session; an ordinary put if the server declines one."""
        source: IO[bytes] = (
            io.BytesIO(bytes(contents)) if isinstance(contents, bytes | bytearray) else contents
        )
        spool = spool_compressed(source, self._transport.spool_dir) if plan.compress_here else None
        body = spool or source
        try:
            start = body.tell()
            total = body.seek(0, io.SEEK_END) - start
            body.seek(start)
            created = self._create_upload(plan, total)
            operation = f"put of {self._describe(plan.key)}"
            if created is None:  # declined or failed: the plain upload, body already encoded
                headers = self._headers()
                headers.update(plan.headers)
                with self._measure("put"):
                    response = self._request(
                        plan.method,
                        plan.key,
                        headers,
                        body=read_chunks(body),
                        retries=_no_replay(self._transport.pool.retries),
                        preload_content=True,
                    )
                    raise_for_status(response, operation)
                return _key_from(response, operation)
            key, token = created
            with self._measure("resumable.put"):
                self._upload_session(key, token, body, start, total)
            return key
        finally:
            if spool is not None:
                spool.close()

    def _create_upload(self, plan: PutPlan, total: int) -> tuple[str, str] | None:
        headers = self._headers()
        headers.update(plan.headers)
        headers["Upload-Length"] = str(total)
        try:
            with self._measure("resumable.create"):
                response = self._transport.pool.request(
                    plan.method,
                    self._path(plan.key) + "?upload_type=resumable",
                    headers=headers,
                    body=b"",
                    decode_content=False,
                )
            answer = json.loads(response.data) if response.status < 400 else None
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            return None
        return parse_created(response.status, answer)

    def _upload_session(
        self, key: str, token: str, body: IO[bytes], start: int, total: int
    ) -> None:
        path = self._path(key) + "?" + urlencode({"session": token})
        retries = _no_replay(self._transport.pool.retries)
        offset, stalls, probe = 0, 0, False
        while True:
            headers = self._headers()
            status: int | None = None
            try:
                if probe:
                    headers.update({"Upload-Offset": "*", "Content-Length": "0"})
                    response = self._transport.pool.request(
                        "PUT", path, headers=headers, body=b"", retries=retries
                    )
                else:
                    body.seek(start + offset)
                    headers["Upload-Offset"] = str(offset)
                    headers["Content-Length"] = str(total - offset)
                    response = self._transport.pool.request(
                        "PUT", path, headers=headers, body=read_chunks(body), retries=retries
                    )
                status = response.status
                answer = classify(status, response.headers.get, offset, total, probe=probe)
            except (urllib3.exceptions.HTTPError, OSError):
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
                    time.sleep(backoff_seconds(stalls))
                    probe = True
                    continue
            self._cancel_upload(path)
            message = f"Blobhouse resumable upload of {self._describe(key)} failed"
            text = None
            if status is not None:
                text = response.data.decode("utf-8", "replace")
                message += f" with status {status}: {text[:300]}"
            raise RequestError(message, status, text)

    def _cancel_upload(self, path: str) -> None:
        with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
            self._transport.pool.request("DELETE", path, headers=self._headers())

    def get(
        self,
        key: str,
        decompress: bool = True,
        accept_encoding: Sequence[str] | None = None,
        *,
        byte_range: tuple[int, int | None] | None = None,
    ) -> GetResponse | None:
        """Fetch an object as a stream; None if it does not exist (or has expired).

        Content stored compressed is decompressed transparently (across zstd frame
        boundaries) unless ``decompress=False`` or its encoding is listed in
        ``accept_encoding`` (``"*"`` lists all); after decompression
        ``metadata.compression`` is None.

        ``byte_range=(start, end)`` fetches the inclusive slice ``start..end`` of the
        *stored* bytes (``end=None``: to the end). A slice of a compressed object is
        not decompressible on its own, so it is returned raw and
        ``metadata.compression`` still names the encoding. A range beyond the object
        raises :class:`RequestError` with status 416.
        """
        validate_key(key)
        headers = self._headers()
        if byte_range is not None:
            start, end = byte_range
            headers["Range"] = RangeSpec(first=start, last=end).header_value()

        with self._measure("get"):
            response = self._request("GET", key, headers, preload_content=False)
            try:
                if response.status == 404:
                    response.drain_conn()
                    response.release_conn()
                    return None
                raise_for_status(response, f"get of {self._describe(key)}")
                if byte_range is not None and response.status != 206:
                    raise RequestError(
                        f"Blobhouse get of {self._describe(key)} with a Range answered "
                        f"{response.status} instead of 206 Partial Content",
                        response.status,
                        None,
                    )
                metadata = metadata_from_response_headers(response.headers.items())
            except BaseException:
                _discard(response)
                raise

        payload = cast(IO[bytes], response)
        encoding = metadata.compression
        passthrough = accept_encoding is not None and (
            "*" in accept_encoding or encoding in accept_encoding
        )
        if encoding and decompress and not passthrough and byte_range is None:
            if encoding != "zstd":
                _discard(response)
                raise NotImplementedError(
                    f"cannot decompress {encoding!r} content; pass decompress=False"
                )
            payload = decompressing_reader(payload)
            metadata = replace(metadata, compression=None)
        return GetResponse(metadata, payload)

    def head(self, key: str) -> Metadata | None:
        """An object's metadata without its content; None if it does not exist.

        Like a GET, this counts as an access and refreshes a time-to-idle deadline.
        """
        validate_key(key)
        with self._measure("head"):
            response = self._request("HEAD", key, self._headers(), preload_content=True)
            if response.status == 404:
                return None
            raise_for_status(response, f"head of {self._describe(key)}")
            return metadata_from_response_headers(response.headers.items())

    def delete(self, key: str) -> None:
        """Delete an object. Raises :class:`RequestError` for any status ≥ 400."""
        validate_key(key)
        with self._measure("delete"):
            response = self._request("DELETE", key, self._headers(), preload_content=True)
            raise_for_status(response, f"delete of {self._describe(key)}")

    def extend_expiry(
        self,
        key: str,
        at: datetime | None = None,
        from_creation: timedelta | None = None,
        from_now: timedelta | None = None,
    ) -> None:
        """Push an expiring object's deadline out to at least the given one (never shortens).

        Exactly one of ``at`` (timezone-aware), ``from_creation`` or ``from_now``.
        Raises :class:`ObjectNotFound` for a missing or expired object and
        :class:`ExpiryExtensionRejected` for one that never expires.
        """
        validate_key(key)
        body = expiry_extension_body(at, from_creation, from_now)
        headers = self._headers()
        headers["Content-Type"] = "application/json"
        operation = f"expiry extension of {self._describe(key)}"
        with self._measure("extend_expiry"):
            response = self._request("PATCH", key, headers, body=body, preload_content=True)
        if response.status == 404:
            raise_for_status(response, operation, error_type=ObjectNotFound)
        if response.status == 409:
            raise_for_status(response, operation, error_type=ExpiryExtensionRejected)
        raise_for_status(response, operation)

    def compose(
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
        with self._measure("compose"):
            headers = self._headers()
            headers.update(plan.headers)
            response = self._transport.pool.request(
                plan.method,
                self._path(chosen, "objects:compose"),
                headers=headers,
                body=plan.body,
                decode_content=False,
            )
            raise_for_status(response, operation)
        return _key_from(response, operation)

    def many(self) -> SyncBatch:
        """Collect operations and run them in as few requests as the limits allow."""
        return SyncBatch(self)

    def _describe(self, key: str | None) -> str:
        return f"{self._usecase.name}/{self._scopes}/{key or ''}"


class SyncBatch(BatchOps):
    """Operations collected by :meth:`Session.many`; run them with :meth:`send`.

    Requests go one after another on the calling thread (no hidden threads or event
    loop); results come back in the order operations were added.
    """

    def __init__(self, session: Session) -> None:
        super().__init__(session.usecase)
        self._session = session

    def send(self) -> list[BatchResult]:
        """Run every operation; one failing operation never fails the others."""
        results: list[BatchResult | None] = [None] * len(self._ops)
        groups, singles = self.plan()
        for group in groups:
            for index, result in zip(group, self._send_group(group), strict=True):
                results[index] = result
        for index in singles:
            op = self._ops[index]
            try:
                key = self._session.put(op.contents, op.key, **op.put_kwargs)
                results[index] = BatchResult("insert", key, 201)
            except RequestError as exc:
                results[index] = self.failed_single(index, exc)
        return self.complete(results)

    def _send_group(self, indexes: list[int]) -> list[BatchResult]:
        session = self._session
        content_type, body = self.encode(indexes)
        headers = session._headers()
        headers["Content-Type"] = content_type
        reader = self.reader(indexes, f"batch on {session.usecase.name}/{session.scopes}")
        with session._measure("batch"):
            response = session._transport.pool.request(
                "POST",
                session._path(None, "objects:batch"),
                headers=headers,
                body=body,
                decode_content=False,
                preload_content=False,
            )
            try:
                raise_for_status(response, reader.operation)
                reader.start(response.headers.get("content-type"))
                for chunk in response.stream(_compression.CHUNK_SIZE):
                    reader.feed(chunk)
            finally:
                response.release_conn()
        return reader.results()


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    """Give up on a response: drop its connection (unread data would poison it)."""
    try:
        response.close()
    finally:
        response.release_conn()


def _key_from(response: urllib3.BaseHTTPResponse, operation: str) -> str:
    """The ``key`` of an insert's JSON answer; anything else is a protocol error."""
    text = (response.data or b"").decode("utf-8", "replace")
    try:
        answer = json.loads(text)
    except ValueError:
        answer = None
    key = answer.get("key") if isinstance(answer, dict) else None
    if not isinstance(key, str) or not key:
        raise RequestError(
            f"Blobhouse {operation} answered {response.status} without a JSON key: {text[:300]!r}",
            response.status,
            text,
        )
    return key
