"""Object metadata and its mapping to HTTP headers (spec §2.1, §22.3.3, §22.3.4).

One place decides header names, timestamp format, value escaping and what is valid, for
both directions: the server parses request headers and emits response headers; the client
emits request headers and parses response headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import quote

from blobhouse.core.expiration import (
    ExpirationError,
    ExpirationPolicy,
    format_expiration,
    parse_expiration,
)

__all__ = [
    "CUSTOM_PREFIX",
    "DEFAULT_CONTENT_TYPE",
    "HEADER_CONTENT_ENCODING",
    "HEADER_CONTENT_TYPE",
    "HEADER_EXPIRATION",
    "HEADER_FILENAME",
    "HEADER_ORIGIN",
    "HEADER_SIZE",
    "HEADER_TIME_CREATED",
    "HEADER_TIME_EXPIRES",
    "Compression",
    "Metadata",
    "MetadataError",
    "content_disposition",
    "decode_header_value",
    "encode_header_value",
    "format_timestamp",
    "metadata_from_request_headers",
    "metadata_from_response_headers",
    "metadata_request_headers",
    "metadata_response_headers",
    "parse_timestamp",
]

HEADER_CONTENT_TYPE = "content-type"
HEADER_CONTENT_ENCODING = "content-encoding"
HEADER_EXPIRATION = "x-sn-expiration"
HEADER_TIME_CREATED = "x-sn-time-created"
HEADER_TIME_EXPIRES = "x-sn-time-expires"
HEADER_ORIGIN = "x-sn-origin"
HEADER_FILENAME = "x-sn-filename"
HEADER_SIZE = "x-sn-size"
CUSTOM_PREFIX = "x-snme-"
DEFAULT_CONTENT_TYPE = "application/octet-stream"

Compression = str  # only "zstd" exists on the wire today

_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\.)*"'
_MEDIA_TYPE = re.compile(
    rf"\s*{_TOKEN}/{_TOKEN}\s*(?:;\s*{_TOKEN}\s*=\s*(?:{_TOKEN}|{_QUOTED})\s*)*;?\s*"
)
_HEADER_NAME = re.compile(_TOKEN)
# Header values must be visible ASCII, space or tab (RFC 9110 field-value without obs-text).
_VISIBLE = re.compile(r"[\t\x20-\x7e]*")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Escaped on output: '%' and everything outside 0x20-0x7E (spec §22.3.3).
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class MetadataError(ValueError):
    """A metadata header the server cannot accept; the message names the header."""


@dataclass(frozen=True, slots=True)
class Metadata:
    """What Blobhouse knows about a stored object besides its bytes.

    Field order follows the official client's ``Metadata`` so code moving between the two
    clients reads the same. ``size`` is the stored (possibly compressed) size.
    """

    content_type: str = DEFAULT_CONTENT_TYPE
    compression: Compression | None = None
    expiration_policy: ExpirationPolicy | None = None
    time_created: datetime | None = None
    time_expires: datetime | None = None
    origin: str | None = None
    filename: str | None = None
    size: int | None = None
    custom: dict[str, str] = field(default_factory=dict)

    def is_expired(self, now: datetime) -> bool:
        return (
            self.expiration_policy is not None
            and self.time_expires is not None
            and self.time_expires <= now
        )

    def with_changes(self, **changes: object) -> Metadata:
        return replace(self, **changes)  # type: ignore[arg-type]


# --- timestamps -------------------------------------------------------------------------


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with exactly six fractional digits and ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> datetime:
    """Parse RFC 3339 with ``Z`` or a numeric offset and an optional fraction."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


# --- header value escaping (spec §22.3.3) ----------------------------------------------


def encode_header_value(value: str) -> str:
    """Percent-encode ``%`` and everything outside printable ASCII (UTF-8 bytes).

    Leading and trailing spaces are escaped too: HTTP strips whitespace around a field
    value, so a literal edge space would not survive the trip.
    """
    encoded = quote(value, safe=_HEADER_SAFE, encoding="utf-8")
    inner = encoded.strip(" ")
    if len(inner) == len(encoded):
        return encoded
    if not inner:
        return "%20" * len(encoded)
    lead = len(encoded) - len(encoded.lstrip(" "))
    trail = len(encoded) - len(encoded.rstrip(" "))
    return "%20" * lead + inner + "%20" * trail


def decode_header_value(value: str) -> str:
    """Decode ``%XX`` escapes as UTF-8; malformed escapes stay literal.

    Raises :class:`UnicodeDecodeError` when the escapes decode to invalid UTF-8, which the
    server turns into a 400.
    """
    if "%" not in value:
        return value
    out = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(value):
        out += value[pos : match.start()].encode("utf-8")
        out.append(int(match.group(1), 16))
        pos = match.end()
    out += value[pos:].encode("utf-8")
    return out.decode("utf-8")


def content_disposition(filename: str) -> str | None:
    """``attachment; filename="..."`` for a stored filename, or None if it cannot be one.

    Path separators become ``-`` so a browser never writes outside its download folder,
    names made only of dots become dashes, and non-ASCII names get an RFC 8187
    ``filename*`` next to an ASCII fallback.
    """
    name = filename.replace("/", "-").replace("\\", "-")
    if name and set(name) == {"."}:
        name = "-" * len(name)
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return None
    ascii_name = "".join(ch if ord(ch) < 0x80 else "_" for ch in name)
    ascii_name = ascii_name.replace("\\", "\\\\").replace('"', '\\"')
    header = f'attachment; filename="{ascii_name}"'
    if ascii_name != name.replace("\\", "\\\\").replace('"', '\\"'):
        header += "; filename*=UTF-8''" + quote(name, safe="", encoding="utf-8")
    return header


# --- server side: request headers -> Metadata -------------------------------------------


def _visible(name: str, value: str) -> str:
    if _VISIBLE.fullmatch(value) is None:
        raise MetadataError(
            f"header {name!r} must be printable ASCII; percent-encode other characters"
        )
    return value


def _decoded(name: str, value: str) -> str:
    _visible(name, value)
    try:
        return decode_header_value(value)
    except UnicodeDecodeError as exc:
        raise MetadataError(
            f"header {name!r} has percent-escapes that are not valid UTF-8"
        ) from exc


def metadata_from_request_headers(headers: Iterable[tuple[str, str]]) -> Metadata:
    """Read an insert's metadata; header names must already be lowercase.

    Timestamps and ``x-sn-size`` sent by a client are ignored: the server stamps its own.
    A repeated header's last value wins.
    """
    content_type = DEFAULT_CONTENT_TYPE
    compression: str | None = None
    policy: ExpirationPolicy | None = None
    origin: str | None = None
    filename: str | None = None
    custom: dict[str, str] = {}
    for name, value in headers:
        if name == HEADER_CONTENT_TYPE:
            _visible(name, value)
            if _MEDIA_TYPE.fullmatch(value) is None:
                raise MetadataError(f"invalid content-type {value!r}: expected type/subtype")
            content_type = value.strip()
        elif name == HEADER_CONTENT_ENCODING:
            encoding = _visible(name, value).strip().lower()
            if encoding == "zstd":
                compression = "zstd"
            elif encoding in ("", "identity"):
                compression = None
            else:
                raise MetadataError(
                    f"unsupported content-encoding {value!r}: only 'zstd' is supported"
                )
        elif name == HEADER_EXPIRATION:
            try:
                policy = parse_expiration(_visible(name, value))
            except ExpirationError as exc:
                raise MetadataError(str(exc)) from exc
        elif name == HEADER_ORIGIN:
            origin = _decoded(name, value)
        elif name == HEADER_FILENAME:
            filename = _decoded(name, value)
        elif name.startswith(CUSTOM_PREFIX):
            custom_key = name[len(CUSTOM_PREFIX) :]
            if not custom_key:
                raise MetadataError(f"custom metadata header {name!r} has no name after the prefix")
            custom[custom_key] = _decoded(name, value)
    return Metadata(
        content_type=content_type,
        compression=compression,
        expiration_policy=policy,
        origin=origin,
        filename=filename,
        custom=custom,
    )


def metadata_response_headers(meta: Metadata) -> list[tuple[str, str]]:
    """Lowercase header pairs describing ``meta`` on GET/HEAD responses."""
    out: list[tuple[str, str]] = [(HEADER_CONTENT_TYPE, meta.content_type)]
    if meta.compression:
        out.append((HEADER_CONTENT_ENCODING, meta.compression))
    if meta.expiration_policy is not None:
        out.append((HEADER_EXPIRATION, format_expiration(meta.expiration_policy)))
    if meta.time_created is not None:
        out.append((HEADER_TIME_CREATED, format_timestamp(meta.time_created)))
    if meta.time_expires is not None and meta.expiration_policy is not None:
        out.append((HEADER_TIME_EXPIRES, format_timestamp(meta.time_expires)))
    if meta.origin is not None:
        out.append((HEADER_ORIGIN, encode_header_value(meta.origin)))
    if meta.filename is not None:
        out.append((HEADER_FILENAME, encode_header_value(meta.filename)))
        disposition = content_disposition(meta.filename)
        if disposition is not None:
            out.append(("content-disposition", disposition))
    if meta.size is not None:
        out.append((HEADER_SIZE, str(meta.size)))
    for key, value in meta.custom.items():
        out.append((CUSTOM_PREFIX + key, encode_header_value(value)))
    return out


# --- client side: Metadata <-> headers ---------------------------------------------------


def metadata_request_headers(
    *,
    content_type: str | None = None,
    compression: str | None = None,
    expiration_policy: ExpirationPolicy | None = None,
    origin: str | None = None,
    filename: str | None = None,
    custom: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Headers an insert sends; raises ValueError for what the server would reject."""
    headers: dict[str, str] = {}
    if content_type is not None:
        if _MEDIA_TYPE.fullmatch(content_type) is None or _VISIBLE.fullmatch(content_type) is None:
            raise ValueError(f"invalid content type {content_type!r}: expected type/subtype")
        headers[HEADER_CONTENT_TYPE] = content_type
    if compression is not None:
        headers[HEADER_CONTENT_ENCODING] = compression
    if expiration_policy is not None:
        headers[HEADER_EXPIRATION] = format_expiration(expiration_policy)
    if origin is not None:
        headers[HEADER_ORIGIN] = encode_header_value(origin)
    if filename is not None:
        headers[HEADER_FILENAME] = encode_header_value(filename)
    for key, value in (custom or {}).items():
        if _HEADER_NAME.fullmatch(key) is None:
            raise ValueError(f"custom metadata key {key!r} must be an HTTP token")
        headers[CUSTOM_PREFIX + key] = encode_header_value(value)
    return headers


def metadata_from_response_headers(headers: Iterable[tuple[str, str]]) -> Metadata:
    """Parse GET/HEAD response headers; names are compared lowercased."""
    fields: dict[str, object] = {}
    custom: dict[str, str] = {}
    for raw_name, value in headers:
        name = raw_name.lower()
        if name == HEADER_CONTENT_TYPE:
            fields["content_type"] = value
        elif name == HEADER_CONTENT_ENCODING:
            fields["compression"] = value.strip().lower() or None
        elif name == HEADER_EXPIRATION:
            fields["expiration_policy"] = parse_expiration(value)
        elif name == HEADER_TIME_CREATED:
            fields["time_created"] = parse_timestamp(value)
        elif name == HEADER_TIME_EXPIRES:
            fields["time_expires"] = parse_timestamp(value)
        elif name == HEADER_ORIGIN:
            fields["origin"] = decode_header_value(value)
        elif name == HEADER_FILENAME:
            fields["filename"] = decode_header_value(value)
        elif name == HEADER_SIZE:
            fields["size"] = int(value)
        elif name.startswith(CUSTOM_PREFIX):
            custom[name[len(CUSTOM_PREFIX) :]] = decode_header_value(value)
    return Metadata(custom=custom, **fields)  # type: ignore[arg-type]
