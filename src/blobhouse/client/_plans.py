"""What a put or a get will do, decided once for the sync and the async client.

Both clients validate the same arguments, choose the same encoding and send the same
headers; only the transport differs. Keeping those decisions here is what lets the
two stay interchangeable.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from blobhouse.client._models import Compression
from blobhouse.core.durations import format_duration
from blobhouse.core.expiration import ExpirationPolicy
from blobhouse.core.ids import validate_key
from blobhouse.core.metadata import Metadata, metadata_request_headers

__all__ = [
    "COMPRESSIONS",
    "MAX_COMPOSE_SOURCES",
    "ComposePlan",
    "PutPlan",
    "expiry_extension_body",
    "plan_compose",
    "plan_put",
    "should_decompress",
]

MAX_COMPOSE_SOURCES = 1000

COMPRESSIONS = ("zstd", "none")


@dataclass(frozen=True, slots=True)
class PutPlan:
    """A validated put: where it goes, its headers, and whether to compress on the fly."""

    method: str  # PUT with a key, POST for a server-generated one
    key: str | None
    headers: dict[str, str]
    encoding: Compression  # what the stored bytes are: "zstd" or "none"
    compress_here: bool  # compress the given bytes before sending
    precompressed: bool


def plan_put(
    *,
    usecase_compression: Compression,
    usecase_policy: ExpirationPolicy | None,
    key: str | None,
    compress: Compression | None,
    compression: Compression | None,
    precompressed: Compression | None,
    content_type: str | None,
    metadata: Mapping[str, str] | None,
    expiration_policy: ExpirationPolicy | None,
    origin: str | None,
    filename: str | None,
    if_absent: bool,
) -> PutPlan:
    """Check a put's arguments (ValueError before anything is sent) and decide its request."""
    if compression is not None:
        warnings.warn(
            "`compression` is deprecated, use `compress` instead",
            DeprecationWarning,
            stacklevel=3,
        )
        if compress is not None:
            raise ValueError("pass either `compress` or the deprecated `compression`")
        compress = compression
    if compress is not None and precompressed is not None:
        raise ValueError("pass either `compress` or `precompressed`, not both")
    if compress is not None and compress not in COMPRESSIONS:
        raise ValueError(f"invalid compression {compress!r}: use 'zstd' or 'none'")
    if precompressed is not None and precompressed != "zstd":
        raise ValueError(f"invalid precompressed {precompressed!r}: only 'zstd' exists")

    encoding: Compression = precompressed or compress or usecase_compression
    chosen_key = validate_key(key) if key else None
    headers = dict(
        metadata_request_headers(
            content_type=content_type or None,
            compression=None if encoding == "none" else encoding,
            expiration_policy=expiration_policy or usecase_policy,
            origin=origin,
            filename=filename,
            custom=metadata,
        )
    )
    if if_absent:
        headers["If-None-Match"] = "*"
    return PutPlan(
        method="PUT" if chosen_key else "POST",
        key=chosen_key,
        headers=headers,
        encoding=encoding,
        compress_here=precompressed is None and encoding == "zstd",
        precompressed=precompressed is not None,
    )


def should_decompress(
    metadata: Metadata,
    decompress: bool,
    accept_encoding: Sequence[str] | None,
    ranged: bool,
) -> bool:
    """Whether a get hands back decompressed bytes.

    Not for slices (a slice of a zstd stream cannot be decoded alone), nor when the
    caller lists the encoding in ``accept_encoding`` (``"*"`` lists all).
    """
    encoding = metadata.compression
    if not encoding or not decompress or ranged:
        return False
    if accept_encoding is not None and ("*" in accept_encoding or encoding in accept_encoding):
        return False
    if encoding != "zstd":
        raise NotImplementedError(f"cannot decompress {encoding!r} content; pass decompress=False")
    return True


@dataclass(frozen=True, slots=True)
class ComposePlan:
    method: str
    key: str | None
    headers: dict[str, str]
    body: bytes


def plan_compose(
    *,
    usecase_policy: ExpirationPolicy | None,
    sources: Sequence[str],
    key: str | None,
    content_type: str | None,
    metadata: Mapping[str, str] | None,
    expiration_policy: ExpirationPolicy | None,
    origin: str | None,
    filename: str | None,
    if_absent: bool,
) -> ComposePlan:
    """A compose request (docs/protocol-extensions.md); ValueError before sending anything."""
    if isinstance(sources, str) or not 1 <= len(sources) <= MAX_COMPOSE_SOURCES:
        raise ValueError(f"compose needs 1 to {MAX_COMPOSE_SOURCES} source keys")
    body: dict[str, object] = {"sources": [validate_key(source) for source in sources]}
    if content_type is not None:
        metadata_request_headers(content_type=content_type)  # ValueError if invalid
        body["content_type"] = content_type
    chosen = validate_key(key) if key else None
    headers = metadata_request_headers(
        expiration_policy=expiration_policy or usecase_policy,
        origin=origin,
        filename=filename,
        custom=metadata,
    )
    headers["Content-Type"] = "application/json"
    if if_absent:
        headers["If-None-Match"] = "*"
    return ComposePlan("PUT" if chosen else "POST", chosen, headers, json.dumps(body).encode())


def expiry_extension_body(
    at: datetime | None, from_creation: timedelta | None, from_now: timedelta | None
) -> bytes:
    """The compact JSON of ``PATCH`` ``extend_expiry`` (spec §22.7); ValueError before sending."""
    if sum(target is not None for target in (at, from_creation, from_now)) != 1:
        raise ValueError("Supply exactly one of at, from_creation, or from_now")
    if at is not None:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("at must be a timezone-aware datetime")
        spec: dict[str, str] = {"at": at.astimezone(UTC).isoformat()}
    else:
        after = from_creation if from_creation is not None else from_now
        assert after is not None
        if after < timedelta(0):
            raise ValueError("Expiry extension duration must not be negative")
        spec = {
            "after": format_duration(after),
            "from": "creation" if from_creation is not None else "now",
        }
    return json.dumps({"extend_expiry": spec}, separators=(",", ":")).encode()
