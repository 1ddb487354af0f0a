"""Expiration durations on the wire.

Two grammars meet here. Input is the full humantime grammar (``1 days 7200 seconds``,
``2h37min``, ``1month``), because objectstore-client 0.2.0 sends it. Output is the
``d h m s`` form (``400d 1m 30s``), because client 0.2.10 raises on any other unit and
0.2.0 parses it too (spec §22.3.2).
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["DurationError", "format_duration", "parse_duration"]

_NANOS_PER_SECOND = 1_000_000_000

# humantime 2.x unit table: name -> length in nanoseconds.
_UNITS: dict[str, int] = {}
for _names, _nanos in (
    (("nanos", "nsec", "ns"), 1),
    (("usec", "us"), 1_000),
    (("millis", "msec", "ms"), 1_000_000),
    (("seconds", "second", "secs", "sec", "s"), _NANOS_PER_SECOND),
    (("minutes", "minute", "mins", "min", "m"), 60 * _NANOS_PER_SECOND),
    (("hours", "hour", "hrs", "hr", "h"), 3600 * _NANOS_PER_SECOND),
    (("days", "day", "d"), 86_400 * _NANOS_PER_SECOND),
    (("weeks", "week", "w"), 7 * 86_400 * _NANOS_PER_SECOND),
    (("months", "month", "M"), 2_630_016 * _NANOS_PER_SECOND),
    (("years", "year", "y"), 31_557_600 * _NANOS_PER_SECOND),
):
    for _name in _names:
        _UNITS[_name] = _nanos

_ITEM = re.compile(r"\s*([0-9]+)\s*([A-Za-z]+)\s*")
# Durations beyond this are rejected rather than overflowing datetime arithmetic later.
MAX_DURATION = timedelta(days=36_500)


class DurationError(ValueError):
    """A duration string that is not in the humantime grammar."""


def parse_duration(text: str) -> timedelta:
    """Parse a humantime duration (``30s``, ``1h 30m``, ``1 days 7200 seconds``).

    Raises :class:`DurationError` with the offending text for anything else, including an
    empty string and negative numbers, so a server can answer 400 with a useful message.
    """
    if not text or not text.strip():
        raise DurationError("empty duration")
    pos = 0
    total = 0
    while pos < len(text):
        match = _ITEM.match(text, pos)
        if match is None or match.end() == pos:
            raise DurationError(f"invalid duration {text!r}: expected <number><unit> items")
        number, unit = match.group(1), match.group(2)
        nanos = _UNITS.get(unit)
        if nanos is None:
            raise DurationError(f"invalid duration {text!r}: unknown unit {unit!r}")
        total += int(number) * nanos
        if total > _to_nanos(MAX_DURATION):
            raise DurationError(f"invalid duration {text!r}: longer than {MAX_DURATION.days} days")
        pos = match.end()
    return timedelta(microseconds=total // 1_000)


def format_duration(delta: timedelta) -> str:
    """Format a duration as ``<d>d <h>h <m>m <s>s`` with zero parts left out.

    Sub-second remainders are truncated and a zero duration is ``0s``, as client 0.2.10
    writes and reads them.
    """
    if delta < timedelta(0):
        raise ValueError(f"durations on the wire are never negative, got {delta}")
    # Integer arithmetic: total_seconds() is a float and rounds long durations up.
    seconds = delta.days * 86_400 + delta.seconds
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{value}{unit}"
        for value, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s"))
        if value
    ]
    return " ".join(parts) if parts else "0s"


def _to_nanos(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * _NANOS_PER_SECOND + delta.microseconds * 1_000
