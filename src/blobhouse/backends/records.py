"""How backends persist metadata: one flat, JSON-friendly record per object.

Filesystem headers and SQL rows both use these field conversions, so an object moved
between engines keeps exactly the same metadata.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from blobhouse.core.expiration import ExpirationPolicy, TimeToIdle, TimeToLive
from blobhouse.core.metadata import DEFAULT_CONTENT_TYPE, Metadata

__all__ = [
    "from_micros",
    "metadata_from_record",
    "metadata_to_record",
    "policy_from_columns",
    "policy_to_columns",
    "to_micros",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch; exact, unlike float timestamps."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def policy_to_columns(policy: ExpirationPolicy | None) -> tuple[str | None, int | None]:
    """(kind, duration in microseconds): ``("ttl", 3_600_000_000)`` or ``(None, None)``."""
    if policy is None:
        return None, None
    kind = "ttl" if isinstance(policy, TimeToLive) else "tti"
    delta = policy.delta
    return kind, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def policy_from_columns(kind: str | None, micros: int | None) -> ExpirationPolicy | None:
    if kind is None or micros is None:
        return None
    delta = timedelta(microseconds=micros)
    return TimeToLive(delta) if kind == "ttl" else TimeToIdle(delta)


def metadata_to_record(meta: Metadata) -> dict[str, Any]:
    """A compact dict of the metadata (size excluded: the payload defines it)."""
    kind, duration = policy_to_columns(meta.expiration_policy)
    record: dict[str, Any] = {"ct": meta.content_type}
    if meta.compression:
        record["ce"] = meta.compression
    if kind is not None:
        record["ek"] = kind
        record["ed"] = duration
    if meta.time_created is not None:
        record["tc"] = to_micros(meta.time_created)
    if meta.time_expires is not None:
        record["te"] = to_micros(meta.time_expires)
    if meta.origin is not None:
        record["or"] = meta.origin
    if meta.filename is not None:
        record["fn"] = meta.filename
    if meta.custom:
        record["cu"] = meta.custom
    return record


def metadata_from_record(record: dict[str, Any], size: int | None = None) -> Metadata:
    created = record.get("tc")
    expires = record.get("te")
    return Metadata(
        content_type=record.get("ct", DEFAULT_CONTENT_TYPE),
        compression=record.get("ce"),
        expiration_policy=policy_from_columns(
            record.get("ek"), None if record.get("ed") is None else int(record["ed"])
        ),
        time_created=None if created is None else from_micros(int(created)),
        time_expires=None if expires is None else from_micros(int(expires)),
        origin=record.get("or"),
        filename=record.get("fn"),
        size=size,
        custom=dict(record.get("cu") or {}),
    )


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=True, sort_keys=True)
