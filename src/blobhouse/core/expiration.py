"""Expiration policies: time-to-live, time-to-idle, or manual (never).

Both the client and the server use these types; the wire form is ``manual``,
``ttl:<duration>`` or ``tti:<duration>`` (spec §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from blobhouse.core.durations import DurationError, format_duration, parse_duration

__all__ = [
    "ExpirationError",
    "ExpirationPolicy",
    "TimeToIdle",
    "TimeToLive",
    "deadline_for",
    "format_expiration",
    "parse_expiration",
    "tti_bump",
]

_MAX_DEBOUNCE = timedelta(hours=24)


class ExpirationError(ValueError):
    """An ``x-sn-expiration`` value that is not ``manual``, ``ttl:<d>`` or ``tti:<d>``."""


@dataclass(frozen=True, slots=True)
class TimeToLive:
    """Expire ``delta`` after the object was written."""

    delta: timedelta


@dataclass(frozen=True, slots=True)
class TimeToIdle:
    """Expire ``delta`` after the object was last read or written."""

    delta: timedelta


ExpirationPolicy = TimeToLive | TimeToIdle


def format_expiration(policy: ExpirationPolicy | None) -> str:
    """``manual``, ``ttl:30d`` or ``tti:1h 30m``."""
    if policy is None:
        return "manual"
    prefix = "ttl" if isinstance(policy, TimeToLive) else "tti"
    return f"{prefix}:{format_duration(policy.delta)}"


def parse_expiration(text: str) -> ExpirationPolicy | None:
    """Parse the wire form; ``None`` means manual. Case-sensitive, as upstream."""
    if text == "manual":
        return None
    kind, sep, duration = text.partition(":")
    if not sep or kind not in ("ttl", "tti"):
        raise ExpirationError(
            f"invalid expiration policy {text!r}: expected 'manual', 'ttl:<duration>' "
            "or 'tti:<duration>'"
        )
    try:
        delta = parse_duration(duration)
    except DurationError as exc:
        raise ExpirationError(f"invalid expiration policy {text!r}: {exc}") from exc
    return TimeToLive(delta) if kind == "ttl" else TimeToIdle(delta)


def deadline_for(policy: ExpirationPolicy | None, now: datetime) -> datetime | None:
    """When an object written (or, for TTI, touched) at ``now`` expires."""
    return None if policy is None else now + policy.delta


def tti_bump(
    policy: ExpirationPolicy | None, time_expires: datetime | None, now: datetime
) -> datetime | None:
    """The new deadline a read of a TTI object should store, or None when no write is due.

    The debounce is a quarter of the TTI, capped at 24 hours (spec §5.3), so short TTIs
    still get refreshed while long ones do not cost a write on every read.
    """
    if not isinstance(policy, TimeToIdle) or time_expires is None:
        return None
    new_deadline = now + policy.delta
    debounce = min(policy.delta / 4, _MAX_DEBOUNCE)
    if time_expires < new_deadline - debounce:
        return new_deadline
    return None
