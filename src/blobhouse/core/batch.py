"""The batch wire format (spec §8): part headers, key encoding, limits and framing.

Client and server both read and write multipart/form-data bodies whose parts carry one
operation each; keeping the header names, the key encoding and the framing here means
the two can never drift apart.
"""

from __future__ import annotations

import http
import secrets
from collections.abc import Iterable

__all__ = [
    "BATCH_MAX_BODY",
    "BATCH_MAX_INSERT",
    "BATCH_MAX_OPERATIONS",
    "HEADER_INDEX",
    "HEADER_KEY",
    "HEADER_KIND",
    "HEADER_STATUS",
    "KINDS",
    "BatchKeyError",
    "FramingError",
    "PartSplitter",
    "boundary_of",
    "closing_delimiter",
    "decode_batch_key",
    "encode_batch_key",
    "new_boundary",
    "parse_status",
    "part_head",
    "status_line",
]

HEADER_KIND = "x-sn-batch-operation-kind"
HEADER_KEY = "x-sn-batch-operation-key"
HEADER_INDEX = "x-sn-batch-operation-index"
HEADER_STATUS = "x-sn-batch-operation-status"

KINDS = frozenset({"get", "head", "insert", "delete"})

BATCH_MAX_INSERT = 1 << 20  # bytes of one insert part
BATCH_MAX_OPERATIONS = 1000
BATCH_MAX_BODY = 1 << 30  # bytes of the whole request body

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HEX = "0123456789ABCDEF"


class BatchKeyError(ValueError):
    """A batch key that is not valid percent-encoded UTF-8."""


def encode_batch_key(key: str) -> str:
    """Percent-encode every byte but ASCII letters and digits, uppercase hex (spec §8.1).

    Stricter than URL encoding on purpose: the result is safe in any header value.
    """
    out: list[str] = []
    for byte in key.encode("utf-8"):
        if byte in _UNRESERVED:
            out.append(chr(byte))
        else:
            out.append(f"%{_HEX[byte >> 4]}{_HEX[byte & 15]}")
    return "".join(out)


def decode_batch_key(text: str) -> str:
    """Undo :func:`encode_batch_key`; any ``%XX`` is decoded, other bytes pass through."""
    raw = text.encode("latin-1", errors="strict") if text.isascii() else None
    if raw is None:
        raise BatchKeyError("batch keys must be percent-encoded ASCII")
    out = bytearray()
    index = 0
    while index < len(raw):
        byte = raw[index]
        if byte == 0x25:  # '%'
            pair = raw[index + 1 : index + 3]
            try:
                if len(pair) != 2:
                    raise ValueError
                out.append(int(pair, 16))
            except ValueError:
                raise BatchKeyError(f"invalid percent-escape at position {index}") from None
            index += 3
        else:
            out.append(byte)
            index += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BatchKeyError(f"key is not valid UTF-8 after decoding: {exc}") from None


# RFC 9110 names where Python's table still has the RFC 2616 ones (upstream uses these).
_PHRASES = {413: "Payload Too Large", 416: "Range Not Satisfiable", 422: "Unprocessable Content"}


def status_line(status: int) -> str:
    """``"200 OK"``: the per-operation status header value."""
    phrase = _PHRASES.get(status)
    if phrase is None:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
    return f"{status} {phrase}"


def parse_status(value: str) -> int:
    """The numeric part of a per-operation status header."""
    code = value.strip().split(" ", 1)[0]
    if not code.isdigit():
        raise ValueError(f"invalid batch operation status {value!r}")
    return int(code)


def new_boundary() -> str:
    """``os-boundary-`` and 128 random bits as 32 lowercase hex digits."""
    return f"os-boundary-{secrets.token_hex(16)}"


def part_head(boundary: str, headers: Iterable[tuple[str, str]], *, first: bool) -> bytes:
    """Everything of one part before its body; parts after the first close the previous body."""
    lines = [] if first else [""]
    lines.append(f"--{boundary}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    lines.append("")
    lines.append("")
    return "\r\n".join(lines).encode("latin-1")


def closing_delimiter(boundary: str, *, any_parts: bool) -> bytes:
    """The end of the body (no trailing CRLF, as upstream)."""
    return (b"\r\n" if any_parts else b"") + f"--{boundary}--".encode("latin-1")


class FramingError(ValueError):
    """A batch answer that does not follow the multipart framing."""


class PartSplitter:
    """Split a multipart body fed in arbitrary chunks into ``(headers, body)`` parts.

    Sans-IO, so the sync and async clients read batch answers with the same code. Each
    part is held until complete (batch parts are small by design); header names come
    back lowercased.
    """

    def __init__(self, boundary: str) -> None:
        self._delimiter = f"--{boundary}".encode("latin-1")
        self._buffer = bytearray()
        self._state = "preamble"  # -> "after-delimiter" -> "part" -> ... -> "end"
        self._scan_from = 0

    @property
    def finished(self) -> bool:
        return self._state == "end"

    def feed(self, data: bytes) -> list[tuple[list[tuple[str, str]], bytes]]:
        self._buffer += data
        parts: list[tuple[list[tuple[str, str]], bytes]] = []
        while True:
            if self._state == "preamble":
                at = self._buffer.find(self._delimiter)
                if at < 0:
                    return parts
                del self._buffer[: at + len(self._delimiter)]
                self._state = "after-delimiter"
            elif self._state == "after-delimiter":
                if len(self._buffer) < 2:
                    return parts
                marker = bytes(self._buffer[:2])
                del self._buffer[:2]
                if marker == b"--":
                    self._state = "end"
                elif marker == b"\r\n":
                    self._state = "part"
                    self._scan_from = 0
                else:
                    raise FramingError(f"unexpected {marker!r} after a boundary")
            elif self._state == "part":
                closing = b"\r\n" + self._delimiter
                at = self._buffer.find(closing, self._scan_from)
                if at < 0:
                    self._scan_from = max(0, len(self._buffer) - len(closing))
                    return parts
                parts.append(self._split(bytes(self._buffer[:at])))
                del self._buffer[: at + len(closing)]
                self._state = "after-delimiter"
            else:  # end: an epilogue, if any, is ignored
                self._buffer.clear()
                return parts

    @staticmethod
    def _split(raw: bytes) -> tuple[list[tuple[str, str]], bytes]:
        if raw.startswith(b"\r\n"):  # no headers at all
            return [], raw[2:]
        head, separator, body = raw.partition(b"\r\n\r\n")
        if not separator:
            if raw.endswith(b"\r\n") or not raw:  # headers only, empty body
                head, body = raw.rstrip(b"\r\n"), b""
            else:
                raise FramingError("a part without a blank line after its headers")
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            if not line:
                continue
            name, colon, value = line.partition(":")
            if not colon:
                raise FramingError(f"malformed part header {line!r}")
            headers.append((name.strip().lower(), value.strip()))
        return headers, body


def boundary_of(content_type: str | None) -> str:
    """The boundary parameter of a ``multipart/form-data`` content type (quotes removed)."""
    if content_type is None:
        raise FramingError("the answer has no content-type")
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise FramingError(f"expected multipart/form-data, got {content_type!r}")
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "boundary" and value:
            return value.strip().strip('"')
    raise FramingError(f"no boundary in {content_type!r}")
