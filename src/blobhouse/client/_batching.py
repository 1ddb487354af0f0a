"""Batching many operations into few requests (spec §8): everything but the I/O.

:class:`BatchOps` collects operations, decides which travel in batch requests and which
go alone, encodes a batch body and reads its answer; the sync and async batches only
send. The policy follows the Rust client: at most 1000 operations and about 100 MiB
per request; an insert larger than 1 MiB as sent, a stream, or a create-only insert
(the batch protocol has no ``If-None-Match``) goes as an ordinary put.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from blobhouse.client import _compression
from blobhouse.client._errors import RequestError
from blobhouse.client._models import Compression
from blobhouse.client._plans import plan_put, should_decompress
from blobhouse.core import batch as wire
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import validate_key
from blobhouse.core.metadata import Metadata, metadata_from_response_headers

__all__ = ["MAX_BATCH_BODY", "BatchOps", "BatchResult"]

MAX_BATCH_BODY = 100 << 20
_PART_OVERHEAD = 512  # framing and headers of one part, for the body-size estimate

Self = TypeVar("Self", bound="BatchOps")


class _Usecase(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def compression(self) -> Compression: ...

    @property
    def expiration_policy(self) -> ExpirationPolicy | None: ...


@dataclass
class BatchResult:
    """The outcome of one operation, in the order operations were added.

    ``status`` is the operation's own HTTP status. ``payload`` is the (decompressed)
    content of a found ``get``; ``metadata`` is set for found gets and heads; ``error``
    holds a :class:`RequestError` for any status ≥ 400 but 404.
    """

    kind: str
    key: str | None
    status: int
    metadata: Metadata | None = None
    payload: bytes | None = None
    error: RequestError | None = None

    @property
    def found(self) -> bool:
        return self.status < 300


@dataclass
class _Op:
    kind: str
    key: str | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    contents: Any = None  # an insert sent on its own (large, a stream or create-only)
    put_kwargs: dict[str, Any] = field(default_factory=dict)
    decompress: bool = True


class BatchReader:
    """Reads one batch answer as it arrives and maps its parts back to operations."""

    def __init__(self, ops: Sequence[_Op], indexes: list[int], operation: str) -> None:
        self._ops = ops
        self._indexes = indexes
        self.operation = operation
        self._found: dict[int, BatchResult] = {}
        self._splitter: wire.PartSplitter | None = None

    def _malformed(self, exc: Exception) -> RequestError:
        return RequestError(
            f"Blobhouse {self.operation} answered a malformed body: {exc}", 200, None
        )

    def start(self, content_type: str | None) -> None:
        try:
            self._splitter = wire.PartSplitter(wire.boundary_of(content_type))
        except wire.FramingError as exc:
            raise self._malformed(exc) from exc

    def feed(self, chunk: bytes) -> None:
        assert self._splitter is not None
        try:
            for headers, data in self._splitter.feed(chunk):
                index, result = self._result_of(headers, data)
                self._found[index] = result
        except (wire.FramingError, KeyError, ValueError, IndexError) as exc:
            raise self._malformed(exc) from exc

    def results(self) -> list[BatchResult]:
        if self._splitter is None or not self._splitter.finished:
            raise self._malformed(wire.FramingError("the answer ended before its closing boundary"))
        missing = [i for i in range(len(self._indexes)) if i not in self._found]
        if missing:
            raise RequestError(
                f"Blobhouse {self.operation} answered no result for operations {missing}",
                200,
                None,
            )
        return [self._found[i] for i in range(len(self._indexes))]

    def _result_of(self, headers: list[tuple[str, str]], data: bytes) -> tuple[int, BatchResult]:
        named = dict(headers)
        index = int(named[wire.HEADER_INDEX])
        status = wire.parse_status(named[wire.HEADER_STATUS])
        op = self._ops[self._indexes[index]]
        raw_key = named.get(wire.HEADER_KEY)
        key = wire.decode_batch_key(raw_key) if raw_key is not None else op.key
        if status >= 400 and status != 404:
            text = data.decode("utf-8", "replace")
            error = RequestError(
                f"Blobhouse batch {op.kind} of {key!r} failed with status {status}: {text[:300]}",
                status,
                text,
            )
            return index, BatchResult(op.kind, key, status, error=error)
        if status == 404 or op.kind in ("insert", "delete"):
            return index, BatchResult(op.kind, key, status)
        metadata = metadata_from_response_headers(
            [(name, value) for name, value in headers if not name.startswith("x-sn-batch-")]
        )
        if op.kind == "head":
            return index, BatchResult(op.kind, key, status, metadata)
        if should_decompress(metadata, op.decompress, None, False):
            data = _compression.decompressing_reader(io.BytesIO(data)).read()
            metadata = replace(metadata, compression=None)
        return index, BatchResult(op.kind, key, status, metadata, data)


class BatchOps:
    """The operations of one ``many()`` call; subclasses add ``send``."""

    def __init__(self, usecase: _Usecase) -> None:
        self._usecase = usecase
        self._ops: list[_Op] = []

    def __len__(self) -> int:
        return len(self._ops)

    def put(self: Self, contents: Any, key: str | None = None, **kwargs: Any) -> Self:
        """Add an insert; takes the arguments of the session's ``put``."""
        plan = plan_put(
            usecase_compression=self._usecase.compression,
            usecase_policy=self._usecase.expiration_policy,
            key=key,
            compress=kwargs.get("compress"),
            compression=kwargs.get("compression"),
            precompressed=kwargs.get("precompressed"),
            content_type=kwargs.get("content_type"),
            metadata=kwargs.get("metadata"),
            expiration_policy=kwargs.get("expiration_policy"),
            origin=kwargs.get("origin"),
            filename=kwargs.get("filename"),
            if_absent=kwargs.get("if_absent", False),
        )
        alone = _Op("insert", plan.key, contents=contents, put_kwargs=kwargs)
        if "If-None-Match" in plan.headers or not isinstance(
            contents, bytes | bytearray | memoryview
        ):
            self._ops.append(alone)
            return self
        data = bytes(contents)
        body = _compression.compress(data) if plan.compress_here else data
        if len(body) > wire.BATCH_MAX_INSERT:
            self._ops.append(alone)
            return self
        self._ops.append(_Op("insert", plan.key, list(plan.headers.items()), body))
        return self

    def get(self: Self, key: str, decompress: bool = True) -> Self:
        self._ops.append(_Op("get", validate_key(key), decompress=decompress))
        return self

    def head(self: Self, key: str) -> Self:
        self._ops.append(_Op("head", validate_key(key)))
        return self

    def delete(self: Self, key: str) -> Self:
        self._ops.append(_Op("delete", validate_key(key)))
        return self

    # --- for the senders ------------------------------------------------------------

    def plan(self) -> tuple[list[list[int]], list[int]]:
        """Indexes grouped into batch requests, and the indexes that go alone."""
        groups: list[list[int]] = [[]]
        singles: list[int] = []
        size = 0
        for index, op in enumerate(self._ops):
            if op.contents is not None:
                singles.append(index)
                continue
            estimate = len(op.body) + _PART_OVERHEAD
            if len(groups[-1]) >= wire.BATCH_MAX_OPERATIONS or size + estimate > MAX_BATCH_BODY:
                groups.append([])
                size = 0
            groups[-1].append(index)
            size += estimate
        return [group for group in groups if group], singles

    def encode(self, indexes: list[int]) -> tuple[str, bytes]:
        """The content type and body of one batch request."""
        boundary = wire.new_boundary()
        body = bytearray()
        for number, index in enumerate(indexes):
            op = self._ops[index]
            headers = [("content-disposition", "form-data; name=part"), (wire.HEADER_KIND, op.kind)]
            if op.key is not None:
                headers.append((wire.HEADER_KEY, wire.encode_batch_key(op.key)))
            headers += op.headers
            body += wire.part_head(boundary, headers, first=number == 0) + op.body
        body += wire.closing_delimiter(boundary, any_parts=bool(indexes))
        return f'multipart/form-data; boundary="{boundary}"', bytes(body)

    def reader(self, indexes: list[int], operation: str) -> BatchReader:
        return BatchReader(self._ops, indexes, operation)

    def failed_single(self, index: int, error: RequestError) -> BatchResult:
        return BatchResult("insert", self._ops[index].key, error.status or 0, error=error)

    @staticmethod
    def complete(results: list[BatchResult | None]) -> list[BatchResult]:
        done = [result for result in results if result is not None]
        assert len(done) == len(results), "an operation was neither sent nor answered"
        return done
