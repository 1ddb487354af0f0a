"""Expiration policies on the wire and time-to-idle refreshes (spec §5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from blobhouse.core.expiration import (
    ExpirationError,
    ExpirationPolicy,
    TimeToIdle,
    TimeToLive,
    deadline_for,
    format_expiration,
    parse_expiration,
    tti_bump,
)
from tests.core.strategies import policies

NOW = datetime(2026, 7, 23, 10, 0, tzinfo=UTC)


@given(policies)
def test_formatted_policy_parses_back(policy: ExpirationPolicy | None) -> None:
    assert parse_expiration(format_expiration(policy)) == policy


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (None, "manual"),
        (TimeToLive(timedelta(days=1, hours=2, seconds=5)), "ttl:1d 2h 5s"),
        (TimeToIdle(timedelta(hours=1)), "tti:1h"),
        (TimeToLive(timedelta(days=30)), "ttl:30d"),
        (TimeToLive(timedelta(days=400, seconds=90)), "ttl:400d 1m 30s"),
        (TimeToLive(timedelta(0)), "ttl:0s"),
    ],
)
def test_policies_format_as_clients_expect(policy: ExpirationPolicy | None, text: str) -> None:
    assert format_expiration(policy) == text


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("ttl:1 days 7200 seconds", TimeToLive(timedelta(days=1, hours=2))),
        ("ttl:3600 seconds", TimeToLive(timedelta(hours=1))),
        ("tti:1day", TimeToIdle(timedelta(days=1))),
        ("ttl:1month 13h 26m 24s", TimeToLive(timedelta(days=31))),
    ],
)
def test_policies_from_older_clients_and_servers_parse(text: str, policy: ExpirationPolicy) -> None:
    assert parse_expiration(text) == policy


@pytest.mark.parametrize(
    "text",
    ["", "garbage", "ttl:", "tti:", "TTL:1d", "Manual", "ttl", "tti:xyz", "ttl:-1d", "ttx:1d"],
)
def test_invalid_policies_are_rejected(text: str) -> None:
    with pytest.raises(ExpirationError):
        parse_expiration(text)


def test_expiration_errors_are_value_errors() -> None:
    assert issubclass(ExpirationError, ValueError)


def test_manual_objects_have_no_deadline() -> None:
    assert deadline_for(None, NOW) is None
    assert deadline_for(TimeToLive(timedelta(hours=1)), NOW) == NOW + timedelta(hours=1)


def test_tti_read_refreshes_deadline_once_a_quarter_has_passed() -> None:
    policy = TimeToIdle(timedelta(hours=2))  # debounce: 30 minutes
    written = NOW
    deadline = written + policy.delta

    assert tti_bump(policy, deadline, written + timedelta(minutes=29)) is None
    later = written + timedelta(minutes=31)
    assert tti_bump(policy, deadline, later) == later + policy.delta


def test_tti_debounce_is_capped_at_one_day() -> None:
    policy = TimeToIdle(timedelta(days=30))
    deadline = NOW + policy.delta

    assert tti_bump(policy, deadline, NOW + timedelta(hours=23)) is None
    assert tti_bump(policy, deadline, NOW + timedelta(hours=25)) is not None


@pytest.mark.parametrize("policy", [None, TimeToLive(timedelta(hours=1))])
def test_only_tti_objects_are_refreshed(policy: ExpirationPolicy | None) -> None:
    assert tti_bump(policy, NOW, NOW + timedelta(days=1)) is None


def test_tti_objects_without_a_deadline_are_not_refreshed() -> None:
    assert tti_bump(TimeToIdle(timedelta(hours=1)), None, NOW) is None
