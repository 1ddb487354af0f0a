"""Single byte ranges for GET (spec §10).

Multi-range requests are answered with the full body, as upstream does; everything else
that is not one valid ``bytes=`` range is a client error.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ByteRange", "RangeError", "RangeNotSatisfiable", "RangeSpec", "parse_range"]


class RangeError(ValueError):
    """A malformed Range header (400)."""


class RangeNotSatisfiable(Exception):
    """A well-formed range that lies outside the object (416)."""

    def __init__(self, total: int) -> None:
        super().__init__(f"range not satisfiable for an object of {total} bytes")
        self.total = total


@dataclass(frozen=True, slots=True)
class ByteRange:
    """A resolved, inclusive range within an object of ``total`` bytes."""

    start: int
    end: int
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.total}"


@dataclass(frozen=True, slots=True)
class RangeSpec:
    """A requested range before the object's size is known.

    ``first`` with optional ``last`` for ``bytes=S-E`` / ``bytes=S-``; ``suffix`` for
    ``bytes=-N``.
    """

    first: int | None = None
    last: int | None = None
    suffix: int | None = None

    def __post_init__(self) -> None:
        if self.suffix is not None:
            if self.first is not None or self.last is not None:
                raise RangeError("a suffix range (bytes=-N) has no start or end")
            if self.suffix <= 0:
                raise RangeError(f"suffix length must be positive, got {self.suffix}")
            return
        if self.first is None or self.first < 0:
            raise RangeError(f"range start must be a non-negative offset, got {self.first}")
        if self.last is not None and self.last < self.first:
            raise RangeError(f"range end {self.last} is before its start {self.first}")

    def header_value(self) -> str:
        """The ``Range`` header a client sends for this range (``bytes=S-E`` etc.)."""
        if self.suffix is not None:
            return f"bytes=-{self.suffix}"
        return f"bytes={self.first}-{'' if self.last is None else self.last}"

    def resolve(self, total: int) -> ByteRange:
        if total == 0:
            raise RangeNotSatisfiable(total)
        if self.suffix is not None:
            return ByteRange(max(0, total - self.suffix), total - 1, total)
        assert self.first is not None
        if self.first >= total:
            raise RangeNotSatisfiable(total)
        last = total - 1 if self.last is None else min(self.last, total - 1)
        return ByteRange(self.first, last, total)


def _number(text: str, header: str) -> int:
    text = text.strip()
    if not text.isdigit() or not text.isascii():
        raise RangeError(f"invalid Range header {header!r}: {text!r} is not a byte offset")
    return int(text)


def parse_range(header: str) -> RangeSpec | None:
    """Parse a Range header; None means "serve the whole object" (multi-range)."""
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise RangeError(f"invalid Range header {header!r}: only 'bytes=' ranges are supported")
    if "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        raise RangeError(f"invalid Range header {header!r}: expected bytes=start-end")
    if not first.strip():
        suffix = _number(last, header)
        if suffix == 0:
            raise RangeError(f"invalid Range header {header!r}: empty suffix range")
        return RangeSpec(suffix=suffix)
    start = _number(first, header)
    if not last.strip():
        return RangeSpec(first=start)
    end = _number(last, header)
    if start > end:
        raise RangeError(f"invalid Range header {header!r}: start is after end")
    return RangeSpec(first=start, last=end)
