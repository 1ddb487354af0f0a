"""Pre-signed URLs: the canonical form both the signer and the verifier compute (spec §7).

The signature covers the method (HEAD counts as GET), the path exactly as transmitted and
every query parameter but the signature itself, so a URL cannot be pointed at another
object, stretched in time or given another method.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime, timedelta

__all__ = [
    "CLOCK_SKEW",
    "MAX_PRESIGN_DURATION",
    "PARAM_CONTENT_TYPE",
    "PARAM_DURATION",
    "PARAM_KID",
    "PARAM_MAX_SIZE",
    "PARAM_SIG",
    "PARAM_TIMESTAMP",
    "PresignError",
    "canonical_form",
    "decode_signature",
    "encode_signature",
    "format_presign_timestamp",
    "parse_presign_timestamp",
]

PARAM_TIMESTAMP = "os_timestamp"
PARAM_DURATION = "os_duration"
PARAM_KID = "os_kid"
PARAM_SIG = "os_sig"
# Blobhouse extension, signed PUT URLs only: the largest body and the required
# Content-Type of the upload, covered by the signature like every other parameter.
PARAM_MAX_SIZE = "os_max_size"
PARAM_CONTENT_TYPE = "os_content_type"
MAX_PRESIGN_DURATION = timedelta(days=7)
CLOCK_SKEW = timedelta(seconds=60)


class PresignError(ValueError):
    """Pre-signed parameters that are missing or malformed (400)."""


def canonical_form(method: str, raw_path: str, raw_query: str) -> str:
    """``METHOD\\npath\\nsorted query without os_sig`` — the bytes that get signed."""
    verb = method.upper()
    if verb == "HEAD":
        verb = "GET"
    pieces = []
    for piece in raw_query.split("&"):
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        name = name.lower()
        if name == PARAM_SIG:
            continue
        pieces.append(f"{name}{sep}{value}")
    return "\n".join((verb, raw_path, "&".join(sorted(pieces))))


def encode_signature(signature: bytes) -> str:
    return base64.urlsafe_b64encode(signature).decode().rstrip("=")


def decode_signature(text: str) -> bytes:
    """base64url without padding; padded input is rejected as the reference does."""
    if "=" in text:
        raise PresignError("os_sig must be base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise PresignError("os_sig is not valid base64url") from exc


def format_presign_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_presign_timestamp(text: str) -> datetime:
    """RFC 3339 in UTC: ``T`` or space, optional fraction, optional ``Z``, no offsets."""
    value = text.strip().replace(" ", "T", 1)
    if value.endswith(("Z", "z")):
        value = value[:-1]
    if "+" in value or value.count("-") > 2:
        raise PresignError(f"os_timestamp {text!r} must be UTC without an offset")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PresignError(f"os_timestamp {text!r} is not an RFC 3339 timestamp") from exc
    return moment.replace(tzinfo=UTC)
